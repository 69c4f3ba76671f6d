//! Zero-shot classification (Radford et al. 2021; open_clip's `zero_shot_classifier`): for each
//! class, embed every prompt template filled with the class name, normalise, average,
//! normalise again; an image's logits are 100 x its embedding . each class embedding.
//! Also the contrastive validation loss on held-out pairs at a FIXED batch size: the loss
//! depends on the batch, so only losses at the same batch are comparable across runs.

use burn::prelude::*;

use crate::backend::to_vec;
use crate::batch::HostBatch;
use crate::model::{Clip, contrastive_loss, l2_normalize, sigmoid_loss};

/// Top-k accuracies and mean per-class recall.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierMetrics {
    pub acc1: f64,
    pub acc5: f64,
    pub mean_per_class_recall: f64,
    pub n: usize,
}

/// Class embeddings, computed once per evaluation.
pub struct ZeroShotClassifier<B: Backend> {
    /// [classes, embed_dim], unit norm
    pub classes: Tensor<B, 2>,
    pub n_classes: usize,
}

impl<B: Backend> ZeroShotClassifier<B> {
    /// `prompts[c]` holds the tokenised prompts of class c: (tokens [t * ctx], eot [t]).
    pub fn new(
        model: &Clip<B>,
        prompts: &[(Vec<i64>, Vec<i64>)],
        context_length: usize,
        device: &B::Device,
    ) -> Self {
        let rows: Vec<Tensor<B, 2>> = prompts
            .iter()
            .map(|(tokens, eot)| {
                let t = eot.len();
                let tok = Tensor::<B, 2, Int>::from_data(
                    TensorData::new(tokens.clone(), [t, context_length]),
                    device,
                );
                let pos = Tensor::<B, 1, Int>::from_data(TensorData::new(eot.clone(), [t]), device);
                model.encode_text(tok, pos).mean_dim(0) // [1, d]
            })
            .collect();
        let classes = l2_normalize(Tensor::cat(rows, 0)); // [classes, d]
        Self {
            n_classes: prompts.len(),
            classes,
        }
    }

    /// Logits [batch, classes] = 100 x image . class.
    pub fn logits(&self, model: &Clip<B>, images: Tensor<B, 4>) -> Tensor<B, 2> {
        model
            .encode_image(images)
            .matmul(self.classes.clone().transpose())
            * 100.0
    }

    /// Accuracy over host batches whose labels are given per image, labels in 0..classes.
    pub fn evaluate(
        &self,
        model: &Clip<B>,
        batches: &[(HostBatch, Vec<usize>)],
        device: &B::Device,
    ) -> ClassifierMetrics {
        let mut scores = Vec::new();
        let mut labels = Vec::new();
        for (batch, y) in batches {
            let b = batch.to_device::<B>(device);
            scores.extend(to_vec(self.logits(model, b.images)));
            labels.extend(y.iter().copied());
        }
        metrics_from_scores(&scores, &labels, self.n_classes)
    }
}

/// Top-1, top-5 and mean per-class recall from row-major scores [n, classes]. Ties count
/// against the true class (a class scoring equal to the true one ranks above it), so a
/// constant model does not score by luck.
pub fn metrics_from_scores(scores: &[f32], labels: &[usize], classes: usize) -> ClassifierMetrics {
    let n = labels.len();
    let mut hit1 = 0usize;
    let mut hit5 = 0usize;
    let mut per_class = vec![(0usize, 0usize); classes];
    for (i, &y) in labels.iter().enumerate() {
        let row = &scores[i * classes..(i + 1) * classes];
        let truth = row[y];
        let rank = row
            .iter()
            .enumerate()
            .filter(|&(j, &s)| j != y && (s >= truth || s.is_nan()))
            .count();
        per_class[y].1 += 1;
        if rank == 0 {
            hit1 += 1;
            per_class[y].0 += 1;
        }
        if rank < 5 {
            hit5 += 1;
        }
    }
    let seen: Vec<f64> = per_class
        .iter()
        .filter(|(_, t)| *t > 0)
        .map(|(h, t)| *h as f64 / *t as f64)
        .collect();
    ClassifierMetrics {
        acc1: hit1 as f64 / n.max(1) as f64,
        acc5: hit5 as f64 / n.max(1) as f64,
        mean_per_class_recall: if seen.is_empty() {
            0.0
        } else {
            seen.iter().sum::<f64>() / seen.len() as f64
        },
        n,
    }
}

/// Held-out losses over fixed-size batches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidationLoss {
    /// The softmax contrastive loss at the model's own scale, whatever its objective: the one
    /// axis on which objectives compare (`val_loss`).
    pub softmax: f64,
    /// The model's own sigmoid loss, for a SigLIP model (`val_sigmoid_loss`).
    pub sigmoid: Option<f64>,
}

/// Mean losses over fixed-size batches of held-out pairs.
pub fn validation_loss<B: Backend>(
    model: &Clip<B>,
    batches: &[HostBatch],
    device: &B::Device,
) -> ValidationLoss {
    let mut softmax = Vec::new();
    let mut sigmoid = Vec::new();
    for b in batches {
        let out = model.forward(b.to_device::<B>(device));
        if let Some(bias) = out.bias.clone() {
            let l = sigmoid_loss(out.image.clone(), out.text.clone(), out.scale.clone(), bias);
            sigmoid.push(to_vec(l)[0] as f64);
        }
        softmax.push(to_vec(contrastive_loss(out.image, out.text, out.scale))[0] as f64);
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    ValidationLoss {
        softmax: mean(&softmax),
        sigmoid: (!sigmoid.is_empty()).then(|| mean(&sigmoid)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_top_k_and_per_class_recall() {
        // 3 images, 6 classes
        let scores = [
            0.9, 0.1, 0.0, 0.0, 0.0, 0.0, // true 0: rank 0
            0.5, 0.4, 0.3, 0.2, 0.1, 0.0, // true 5: rank 5 (miss top-5)
            0.1, 0.9, 0.2, 0.0, 0.0, 0.0, // true 2: rank 1
        ];
        let m = metrics_from_scores(&scores, &[0, 5, 2], 6);
        assert!((m.acc1 - 1.0 / 3.0).abs() < 1e-12);
        assert!((m.acc5 - 2.0 / 3.0).abs() < 1e-12);
        // classes 0, 5, 2 seen once each: recalls 1, 0, 0
        assert!((m.mean_per_class_recall - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn ties_count_against_the_true_class() {
        let m = metrics_from_scores(&[1.0, 1.0, 1.0, 1.0], &[0, 1], 2);
        assert_eq!(m.acc1, 0.0);
        assert_eq!(m.acc5, 1.0);
    }
}
