//! Image-text retrieval as CLIP_benchmark reports it: for each caption, is its image among the
//! top-k images (`image_retrieval_recall@k`); for each image, is ANY of its captions among the
//! top-k captions (`text_retrieval_recall@k`). Ties count against the correct item.

use burn::prelude::*;

use crate::backend::to_vec;
use crate::model::Clip;

/// Recall at 1, 5 and 10 in both directions.
#[derive(Debug, Clone, PartialEq)]
pub struct RetrievalMetrics {
    /// text -> image, k = 1, 5, 10
    pub image_retrieval_recall: [f64; 3],
    /// image -> text, k = 1, 5, 10
    pub text_retrieval_recall: [f64; 3],
    pub images: usize,
    pub texts: usize,
}

pub const RECALL_KS: [usize; 3] = [1, 5, 10];

/// scores: row-major [images, texts] similarities; text_image[t] = the image caption t describes.
pub fn retrieval_from_scores(
    scores: &[f32],
    images: usize,
    text_image: &[usize],
) -> RetrievalMetrics {
    let texts = text_image.len();
    assert_eq!(
        scores.len(),
        images * texts,
        "scores must be [images, texts]"
    );
    let mut image_hits = [0usize; 3];
    for (t, &img) in text_image.iter().enumerate() {
        let truth = scores[img * texts + t];
        // images that score at least as high as the right one (a tie ranks above it)
        let rank = (0..images)
            .filter(|&i| {
                i != img && {
                    let s = scores[i * texts + t];
                    s >= truth || s.is_nan()
                }
            })
            .count();
        for (h, k) in image_hits.iter_mut().zip(RECALL_KS) {
            *h += (rank < k) as usize;
        }
    }
    let mut text_hits = [0usize; 3];
    for i in 0..images {
        let row = &scores[i * texts..(i + 1) * texts];
        // the best rank among this image's captions
        let best = (0..texts)
            .filter(|&t| text_image[t] == i)
            .map(|t| {
                (0..texts)
                    .filter(|&u| {
                        u != t && text_image[u] != i && (row[u] >= row[t] || row[u].is_nan())
                    })
                    .count()
            })
            .min();
        if let Some(rank) = best {
            for (h, k) in text_hits.iter_mut().zip(RECALL_KS) {
                *h += (rank < k) as usize;
            }
        }
    }
    let with_text = (0..images)
        .filter(|i| text_image.contains(i))
        .count()
        .max(1) as f64;
    RetrievalMetrics {
        image_retrieval_recall: image_hits.map(|h| h as f64 / texts.max(1) as f64),
        text_retrieval_recall: text_hits.map(|h| h as f64 / with_text),
        images,
        texts,
    }
}

/// Embeds images and captions (batched, no autodiff on an inner backend) and scores them.
/// images: host batches of [b, 3, s, s]; texts: (tokens [n * ctx], eot [n]) batches.
pub fn embed_and_score<B: Backend>(
    model: &Clip<B>,
    images: &[(Vec<f32>, usize)],
    image_size: usize,
    texts: &[(Vec<i64>, Vec<i64>)],
    context_length: usize,
    device: &B::Device,
) -> (Vec<f32>, usize, usize) {
    let img: Vec<Tensor<B, 2>> = images
        .iter()
        .map(|(data, b)| {
            model.encode_image(Tensor::from_data(
                TensorData::new(data.clone(), [*b, 3, image_size, image_size]),
                device,
            ))
        })
        .collect();
    let txt: Vec<Tensor<B, 2>> = texts
        .iter()
        .map(|(tok, eot)| {
            let n = eot.len();
            model.encode_text(
                Tensor::from_data(TensorData::new(tok.clone(), [n, context_length]), device),
                Tensor::from_data(TensorData::new(eot.clone(), [n]), device),
            )
        })
        .collect();
    let img = Tensor::cat(img, 0);
    let txt = Tensor::cat(txt, 0);
    let [ni, _] = img.dims();
    let [nt, _] = txt.dims();
    (to_vec(img.matmul(txt.transpose())), ni, nt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_recalls_with_several_captions_per_image() {
        // 3 images; captions 0,1 -> image 0; 2 -> image 1; 3 -> image 2
        let text_image = [0, 0, 1, 2];
        #[rustfmt::skip]
        let scores = [
            // t0   t1   t2   t3
            0.9, 0.1, 0.2, 0.0, // image 0: best caption t0 is its own -> rank 0
            0.8, 0.7, 0.6, 0.5, // image 1: its t2 ranks below t3? no: t0 0.8, t1 0.7 above -> rank 2 (t3 is not above)
            0.3, 0.2, 0.1, 0.4, // image 2: t3 is the best -> rank 0
        ];
        let m = retrieval_from_scores(&scores, 3, &text_image);
        // text -> image: t0: img0 0.9 vs 0.8, 0.3 -> rank 0; t1: img0 0.1 vs 0.7 (img1), 0.2 -> rank 2;
        // t2: img1 0.6 vs 0.2, 0.1 -> rank 0; t3: img2 0.4 vs 0.0, 0.5 -> rank 1
        assert_eq!(m.image_retrieval_recall, [0.5, 1.0, 1.0]);
        // image -> text: image 0 rank 0, image 1 rank 2, image 2 rank 0
        assert!((m.text_retrieval_recall[0] - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(m.text_retrieval_recall[1], 1.0);
    }

    #[test]
    fn ties_rank_against_the_correct_item() {
        let m = retrieval_from_scores(&[0.5, 0.5, 0.5, 0.5], 2, &[0, 1]);
        assert_eq!(m.image_retrieval_recall[0], 0.0);
        assert_eq!(m.text_retrieval_recall[0], 0.0);
        assert_eq!(m.image_retrieval_recall[1], 1.0);
    }
}
