//! Fashion-MNIST and Tux Paint preparation: on small inputs written by the tests (always run),
//! and on the installed Debian packages when present (skipped with a message otherwise; the
//! missing-package error must name the `apt-get install` command).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};

use clipscale_data::DataError;
use clipscale_data::prepare::fashion_mnist::{
    self, PrepareFashionMnistArgs, prepare_fashion_mnist,
};
use clipscale_data::prepare::tuxpaint::{self, PrepareTuxpaintArgs, prepare_tuxpaint};
use common::read_shard;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("clipscale-{name}-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_gz(path: &Path, bytes: &[u8]) {
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(path).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap();
}

/// Writes a tiny IDX set: `n` 28x28 images whose pixels all equal their label * 20.
fn write_idx(dir: &Path, prefix: &str, labels: &[u8]) {
    let mut images = Vec::new();
    images.extend_from_slice(&0x0803u32.to_be_bytes());
    images.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    images.extend_from_slice(&28u32.to_be_bytes());
    images.extend_from_slice(&28u32.to_be_bytes());
    for &l in labels {
        images.extend(std::iter::repeat_n(l * 20, 28 * 28));
    }
    write_gz(&dir.join(format!("{prefix}-images-idx3-ubyte.gz")), &images);
    let mut lab = Vec::new();
    lab.extend_from_slice(&0x0801u32.to_be_bytes());
    lab.extend_from_slice(&(labels.len() as u32).to_be_bytes());
    lab.extend_from_slice(labels);
    write_gz(&dir.join(format!("{prefix}-labels-idx1-ubyte.gz")), &lab);
}

#[test]
fn fashion_mnist_from_small_idx_files() {
    let root = temp_dir("fmnist-root");
    write_idx(&root, "train", &[0, 1, 2, 9, 5]);
    write_idx(&root, "t10k", &[3, 7]);
    let out = temp_dir("fmnist-out");
    let args = PrepareFashionMnistArgs {
        out: out.clone(),
        root: root.clone(),
        image_size: 32,
        shard_size: 2,
        quiet: true,
        ..Default::default()
    };
    let m = prepare_fashion_mnist(&args).unwrap();
    assert_eq!(m.num_classes, 10);
    assert_eq!(m.splits["train"].samples, 5);
    assert_eq!(m.splits["train"].shards.len(), 3);
    assert_eq!(m.splits["test"].samples, 2);
    let classnames = std::fs::read_to_string(out.join("classnames.txt")).unwrap();
    assert_eq!(classnames.lines().nth(9), Some("ankle boot"));
    let samples = read_shard(&out.join(&m.splits["test"].shards[0]));
    let s = &samples["test_00001"];
    assert_eq!(s["txt"], b"a photo of a sneaker.");
    let meta: serde_json::Value = serde_json::from_slice(&s["json"]).unwrap();
    assert_eq!(
        (meta["class"].as_u64(), meta["split"].as_str()),
        (Some(7), Some("test"))
    );
    let img = image::load_from_memory(&s["png"]).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (32, 32));
    assert_eq!(img.get_pixel(16, 16).0, [140, 140, 140]);

    // A corrupt label file is named with the bad value.
    write_idx(&root, "t10k", &[3, 11]);
    let err = prepare_fashion_mnist(&args).unwrap_err().to_string();
    assert!(
        err.contains("t10k-labels-idx1-ubyte.gz") && err.contains("is 11"),
        "{err}"
    );
    // A missing package says which one to install.
    let err = prepare_fashion_mnist(&PrepareFashionMnistArgs {
        root: root.join("absent"),
        ..args
    })
    .unwrap_err();
    assert!(matches!(&err, DataError::MissingData { .. }));
    assert!(
        err.to_string()
            .contains("apt-get install dataset-fashion-mnist"),
        "{err}"
    );
    std::fs::remove_dir_all(&root).ok();
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn fashion_mnist_from_the_debian_package() {
    let root = Path::new(fashion_mnist::DEFAULT_ROOT);
    if !root.is_dir() {
        assert!(
            std::env::var("CLIPSCALE_REQUIRE_DATA").as_deref() != Ok("1"),
            "CLIPSCALE_REQUIRE_DATA=1 but {} is missing (apt-get install dataset-fashion-mnist)",
            root.display()
        );
        eprintln!(
            "SKIPPED: {} missing (apt-get install dataset-fashion-mnist)",
            root.display()
        );
        return;
    }
    let out = temp_dir("fmnist-real");
    let m = prepare_fashion_mnist(&PrepareFashionMnistArgs {
        out: out.clone(),
        max_per_split: Some(300),
        quiet: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(m.splits["train"].samples, 300);
    assert_eq!(m.splits["test"].samples, 300);
    let samples = read_shard(&out.join(&m.splits["test"].shards[0]));
    let mut classes = std::collections::BTreeSet::new();
    for s in samples.values() {
        let meta: serde_json::Value = serde_json::from_slice(&s["json"]).unwrap();
        classes.insert(meta["class"].as_u64().unwrap());
        let img = image::load_from_memory(&s["png"]).unwrap();
        assert_eq!((img.width(), img.height()), (28, 28));
    }
    assert_eq!(classes.len(), 10, "300 test images cover every class");
    std::fs::remove_dir_all(&out).ok();
}

fn tiny_png(path: &Path, w: u32, h: u32, rgba: [u8; 4]) {
    image::RgbaImage::from_pixel(w, h, image::Rgba(rgba))
        .save(path)
        .unwrap();
}

#[test]
fn tuxpaint_from_a_small_stamp_folder() {
    let root = temp_dir("tux-root");
    std::fs::create_dir_all(root.join("food/fruit")).unwrap();
    std::fs::create_dir_all(root.join("animals")).unwrap();
    tiny_png(
        &root.join("food/fruit/tomato.png"),
        40,
        20,
        [200, 0, 0, 255],
    );
    std::fs::write(
        root.join("food/fruit/tomato.txt"),
        "A ripe, red tomato!\nfr.utf8=Une tomate.\n",
    )
    .unwrap();
    tiny_png(&root.join("animals/ghost.png"), 10, 10, [0, 0, 0, 0]);
    std::fs::write(root.join("animals/ghost.txt"), "A see-through ghost.").unwrap();
    tiny_png(
        &root.join("animals/ghost_mirror.png"),
        10,
        10,
        [0, 0, 0, 255],
    );
    let out = temp_dir("tux-out");
    let m = prepare_tuxpaint(&PrepareTuxpaintArgs {
        out: out.clone(),
        root: root.clone(),
        image_size: 16,
        quiet: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(m.splits["test"].samples, 2);
    assert_eq!(m.details["skipped_without_caption"], 1);
    let samples = read_shard(&out.join(&m.splits["test"].shards[0]));
    let keys: Vec<&str> = samples.keys().map(String::as_str).collect();
    assert_eq!(keys, ["animals_ghost", "food_fruit_tomato"]);
    let tomato = &samples["food_fruit_tomato"];
    assert_eq!(tomato["txt"], b"A ripe, red tomato!");
    let img = image::load_from_memory(&tomato["png"]).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (16, 16));
    assert_eq!(img.get_pixel(8, 8).0, [200, 0, 0]); // the photo, centred
    assert_eq!(img.get_pixel(8, 0).0, [255, 255, 255]); // letterbox margin
    let ghost = image::load_from_memory(&samples["animals_ghost"]["png"])
        .unwrap()
        .to_rgb8();
    assert!(
        ghost.pixels().all(|p| p.0 == [255, 255, 255]),
        "transparent -> white"
    );
    let only_food = prepare_tuxpaint(&PrepareTuxpaintArgs {
        out: out.clone(),
        root: root.clone(),
        categories: vec!["food".into()],
        quiet: true,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(only_food.splits["test"].samples, 1);
    let err = prepare_tuxpaint(&PrepareTuxpaintArgs {
        out: out.clone(),
        root: root.clone(),
        categories: vec!["fod".into()],
        quiet: true,
        ..Default::default()
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("\"fod\"") && err.contains("animals, food"),
        "{err}"
    );
    let err = prepare_tuxpaint(&PrepareTuxpaintArgs {
        out,
        root: root.join("absent"),
        ..Default::default()
    })
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("apt-get install tuxpaint-stamps-default"),
        "{err}"
    );
    std::fs::remove_dir_all(&root).ok();
}

#[test]
fn tuxpaint_from_the_debian_package() {
    let root = Path::new(tuxpaint::DEFAULT_ROOT);
    if !root.is_dir() {
        assert!(
            std::env::var("CLIPSCALE_REQUIRE_DATA").as_deref() != Ok("1"),
            "CLIPSCALE_REQUIRE_DATA=1 but {} is missing (apt-get install tuxpaint-stamps-default)",
            root.display()
        );
        eprintln!(
            "SKIPPED: {} missing (apt-get install tuxpaint-stamps-default)",
            root.display()
        );
        return;
    }
    let out = temp_dir("tux-real");
    let m = prepare_tuxpaint(&PrepareTuxpaintArgs {
        out: out.clone(),
        image_size: 32,
        quiet: true,
        ..Default::default()
    })
    .unwrap();
    assert!(
        m.splits["test"].samples > 300,
        "{}",
        m.splits["test"].samples
    );
    let samples = read_shard(&out.join(&m.splits["test"].shards[0]));
    assert!(samples.values().all(|s| !s["txt"].is_empty()));
    std::fs::remove_dir_all(&out).ok();
}
