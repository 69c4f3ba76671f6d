//! The closed attribute sets of the synthetic scenes: shapes, colours, sizes, textures, grid
//! positions and backgrounds, each with its canonical word(s) and rendering parameters.
//!
//! Object colours are the ten saturated [`Colour::OBJECT`] colours; grey is a background-only
//! colour. A zero-shot class is an (object colour, shape) pair, indexed
//! `colour.index() * Shape::ALL.len() + shape.index()`.

use serde::{Deserialize, Serialize};

/// The object shapes. All fit, centred, in the unit disc of the object's radius.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Shape {
    Circle,
    Square,
    Triangle,
    Star,
    Cross,
    Ring,
    Diamond,
    Heart,
    Crescent,
    Arrow,
}

impl Shape {
    /// Every shape, in index order.
    pub const ALL: [Shape; 10] = [
        Shape::Circle,
        Shape::Square,
        Shape::Triangle,
        Shape::Star,
        Shape::Cross,
        Shape::Ring,
        Shape::Diamond,
        Shape::Heart,
        Shape::Crescent,
        Shape::Arrow,
    ];

    /// Position in [`Shape::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The singular noun.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Circle => "circle",
            Shape::Square => "square",
            Shape::Triangle => "triangle",
            Shape::Star => "star",
            Shape::Cross => "cross",
            Shape::Ring => "ring",
            Shape::Diamond => "diamond",
            Shape::Heart => "heart",
            Shape::Crescent => "crescent",
            Shape::Arrow => "arrow",
        }
    }

    /// The plural noun.
    pub fn plural(self) -> &'static str {
        PLURALS[self.index()]
    }
}

const PLURALS: [&str; 10] = [
    "circles",
    "squares",
    "triangles",
    "stars",
    "crosses",
    "rings",
    "diamonds",
    "hearts",
    "crescents",
    "arrows",
];

/// Named colours: the ten object colours, then grey (backgrounds only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Colour {
    Red,
    Orange,
    Yellow,
    Green,
    Cyan,
    Blue,
    Purple,
    Pink,
    White,
    Black,
    Grey,
}

impl Colour {
    /// Every colour, object colours first.
    pub const ALL: [Colour; 11] = [
        Colour::Red,
        Colour::Orange,
        Colour::Yellow,
        Colour::Green,
        Colour::Cyan,
        Colour::Blue,
        Colour::Purple,
        Colour::Pink,
        Colour::White,
        Colour::Black,
        Colour::Grey,
    ];

    /// The colours objects (and so classes) can have.
    pub const OBJECT: [Colour; 10] = [
        Colour::Red,
        Colour::Orange,
        Colour::Yellow,
        Colour::Green,
        Colour::Cyan,
        Colour::Blue,
        Colour::Purple,
        Colour::Pink,
        Colour::White,
        Colour::Black,
    ];

    /// Position in [`Colour::ALL`] (object colours are `0..10`).
    pub fn index(self) -> usize {
        self as usize
    }

    /// The canonical word.
    pub fn name(self) -> &'static str {
        match self {
            Colour::Red => "red",
            Colour::Orange => "orange",
            Colour::Yellow => "yellow",
            Colour::Green => "green",
            Colour::Cyan => "cyan",
            Colour::Blue => "blue",
            Colour::Purple => "purple",
            Colour::Pink => "pink",
            Colour::White => "white",
            Colour::Black => "black",
            Colour::Grey => "grey",
        }
    }

    /// Linear-ish sRGB in `[0, 1]`.
    pub fn rgb(self) -> [f32; 3] {
        match self {
            Colour::Red => [0.88, 0.12, 0.12],
            Colour::Orange => [1.0, 0.55, 0.05],
            Colour::Yellow => [0.98, 0.9, 0.15],
            Colour::Green => [0.15, 0.68, 0.2],
            Colour::Cyan => [0.15, 0.85, 0.9],
            Colour::Blue => [0.12, 0.3, 0.92],
            Colour::Purple => [0.58, 0.2, 0.8],
            Colour::Pink => [1.0, 0.55, 0.78],
            Colour::White => [0.97, 0.97, 0.97],
            Colour::Black => [0.06, 0.06, 0.06],
            Colour::Grey => [0.5, 0.5, 0.5],
        }
    }
}

/// Euclidean distance between two RGB colours.
pub(crate) fn rgb_distance(a: [f32; 3], b: [f32; 3]) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2) + (a[2] - b[2]).powi(2)).sqrt()
}

/// Linear interpolation between two RGB colours.
#[inline]
pub(crate) fn mix_rgb(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
    ]
}

/// Object sizes: the object's radius as a fraction of the image side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Size {
    Small,
    Medium,
    Large,
}

impl Size {
    /// Every size, smallest first.
    pub const ALL: [Size; 3] = [Size::Small, Size::Medium, Size::Large];

    /// Position in [`Size::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Nominal radius as a fraction of the image side (jittered by ±4% per object).
    pub fn radius(self) -> f32 {
        match self {
            Size::Small => 0.095,
            Size::Medium => 0.135,
            Size::Large => 0.175,
        }
    }

    /// The canonical word.
    pub fn name(self) -> &'static str {
        match self {
            Size::Small => "small",
            Size::Medium => "medium",
            Size::Large => "large",
        }
    }
}

/// Surface patterns. Patterns mix the object colour with a darker (or, for dark colours,
/// lighter) shade of it, so they never hide the object's colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Texture {
    Solid,
    Striped,
    Dotted,
    Checkered,
}

impl Texture {
    /// Every texture.
    pub const ALL: [Texture; 4] = [
        Texture::Solid,
        Texture::Striped,
        Texture::Dotted,
        Texture::Checkered,
    ];

    /// Position in [`Texture::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The canonical word.
    pub fn name(self) -> &'static str {
        match self {
            Texture::Solid => "solid",
            Texture::Striped => "striped",
            Texture::Dotted => "dotted",
            Texture::Checkered => "checkered",
        }
    }
}

/// The nine cells of the 3x3 layout grid, row by row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Position {
    TopLeft,
    Top,
    TopRight,
    Left,
    Centre,
    Right,
    BottomLeft,
    Bottom,
    BottomRight,
}

impl Position {
    /// Every cell, row by row.
    pub const ALL: [Position; 9] = [
        Position::TopLeft,
        Position::Top,
        Position::TopRight,
        Position::Left,
        Position::Centre,
        Position::Right,
        Position::BottomLeft,
        Position::Bottom,
        Position::BottomRight,
    ];

    /// Position in [`Position::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Grid column, 0 (left) to 2 (right).
    pub fn column(self) -> usize {
        self.index() % 3
    }

    /// Grid row, 0 (top) to 2 (bottom).
    pub fn row(self) -> usize {
        self.index() / 3
    }

    /// Canonical words ("top left", "centre", ...).
    pub fn name(self) -> &'static str {
        match self {
            Position::TopLeft => "top left",
            Position::Top => "top",
            Position::TopRight => "top right",
            Position::Left => "left",
            Position::Centre => "centre",
            Position::Right => "right",
            Position::BottomLeft => "bottom left",
            Position::Bottom => "bottom",
            Position::BottomRight => "bottom right",
        }
    }
}

/// Direction of a two-colour gradient (from `from` to `to`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GradientDirection {
    /// Left to right.
    Horizontal,
    /// Top to bottom.
    Vertical,
    /// Top left to bottom right.
    Diagonal,
}

/// The scene background. Background colours always differ clearly from every object colour
/// in the scene (RGB distance at least 0.35 everywhere, gradient midpoints included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Background {
    /// One flat colour.
    Plain(Colour),
    /// A colour with grey speckle noise on a 32x32 lattice (per pixel at 32 px).
    Noise(Colour),
    /// A linear blend between two colours.
    Gradient {
        from: Colour,
        to: Colour,
        direction: GradientDirection,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_match_order_and_names_are_distinct() {
        for (i, s) in Shape::ALL.iter().enumerate() {
            assert_eq!(s.index(), i);
        }
        for (i, c) in Colour::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
        let mut names: Vec<&str> = Shape::ALL.iter().map(|s| s.name()).collect();
        names.extend(Shape::ALL.iter().map(|s| s.plural()));
        names.extend(Colour::ALL.iter().map(|c| c.name()));
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
        assert_eq!(Shape::Cross.plural(), "crosses");
        assert_eq!(Shape::Heart.plural(), "hearts");
    }

    #[test]
    fn object_colours_are_mutually_distinct() {
        for (i, a) in Colour::OBJECT.iter().enumerate() {
            for b in &Colour::OBJECT[i + 1..] {
                let d = rgb_distance(a.rgb(), b.rgb());
                assert!(d > 0.3, "{a:?} and {b:?} are too close ({d})");
            }
        }
    }

    #[test]
    fn grid_cells_have_rows_and_columns() {
        assert_eq!(
            (Position::TopRight.row(), Position::TopRight.column()),
            (0, 2)
        );
        assert_eq!((Position::Centre.row(), Position::Centre.column()), (1, 1));
        assert_eq!(
            (Position::BottomLeft.row(), Position::BottomLeft.column()),
            (2, 0)
        );
    }
}
