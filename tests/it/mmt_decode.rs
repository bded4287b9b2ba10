//! Decoding (issue 6): beam search against greedy search on hand-built and pseudo-random decoders, through the
//! public `Stepper` interface the neural decoder also implements.

use fusec::backend::decode::{beam_search, greedy, DecodeOptions, Hypothesis, Stepper};

/// A decoder given by a function from the prefix (BOS excluded) to next-token probabilities.
struct Table<F: Fn(&[u32]) -> Vec<f32>> {
    probs: F,
}

impl<F: Fn(&[u32]) -> Vec<f32>> Stepper for Table<F> {
    /// The prefix of each row.
    type State = Vec<Vec<u32>>;

    fn step(
        &self,
        prev: &[u32],
        state: &Self::State,
    ) -> candle_core::Result<(Vec<Vec<f32>>, Self::State)> {
        let mut next = Vec::new();
        let mut rows = Vec::new();
        for (p, s) in prev.iter().zip(state) {
            let mut s = s.clone();
            if *p != 1 {
                s.push(*p);
            }
            rows.push((self.probs)(&s).iter().map(|x| x.ln()).collect());
            next.push(s);
        }
        Ok((rows, next))
    }

    fn select(&self, state: &Self::State, rows: &[usize]) -> candle_core::Result<Self::State> {
        Ok(rows.iter().map(|r| state[*r].clone()).collect())
    }
}

const A: u32 = 3;
const B: u32 = 4;

/// Greedy takes A (0.6), then A or B (0.4 each, ties to the lower id), then must stop: 0.6 * 0.4 * 1.0 = 0.24.
/// The sequence B EOS has probability 0.4 * 0.95 = 0.38.
fn trap(prefix: &[u32]) -> Vec<f32> {
    let p = |eos: f32, a: f32, b: f32| vec![0.0, 0.0, eos, a, b];
    match prefix {
        [] => p(0.0, 0.6, 0.4),
        [A] => p(0.2, 0.4, 0.4),
        [B] => p(0.95, 0.025, 0.025),
        _ => p(1.0, 0.0, 0.0),
    }
}

fn opts(beam: usize, alpha: f64) -> DecodeOptions {
    DecodeOptions {
        beam,
        max_len: 10,
        alpha,
    }
}

#[test]
fn beam_search_beats_greedy_where_greedy_fails() {
    let t = Table { probs: trap };
    let g = greedy(&t, vec![Vec::new()], 1, 10).unwrap();
    assert_eq!(g[0].tokens, [A, A]);
    assert!((g[0].score - 0.24f64.ln()).abs() < 1e-5, "{:?}", g[0]);
    let b = beam_search(&t, vec![Vec::new()], 1, &opts(2, 0.0)).unwrap();
    assert_eq!(b[0].tokens, [B]);
    assert!(b[0].finished);
    assert!((b[0].score - 0.38f64.ln()).abs() < 1e-5, "{:?}", b[0]);
    assert!(b[0].score > g[0].score);
}

/// A deterministic pseudo-random distribution over 7 tokens for each prefix, EOS more likely as it grows.
fn pseudo(seed: u64) -> impl Fn(&[u32]) -> Vec<f32> {
    move |prefix: &[u32]| {
        let mut h = seed ^ 0x9E37_79B9_7F4A_7C15;
        for t in prefix {
            h = (h ^ u64::from(*t)).wrapping_mul(0x0100_0000_01B3);
        }
        let mut w: Vec<f32> = (0..7)
            .map(|i| {
                h = h
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407 + i);
                ((h >> 33) % 1000) as f32 / 1000.0 + 0.01
            })
            .collect();
        w[0] = 0.0;
        w[1] = 0.0;
        w[2] *= 0.3 + prefix.len() as f32;
        let s: f32 = w.iter().sum();
        w.iter().map(|x| (x / s).max(1e-12)).collect()
    }
}

#[test]
fn beam_one_equals_greedy() {
    for seed in 0..40 {
        let t = Table {
            probs: pseudo(seed),
        };
        let start = vec![vec![]; 3];
        let g: Vec<Hypothesis> = greedy(&t, start.clone(), 3, 12).unwrap();
        let b = beam_search(&t, start, 3, &opts(1, 1.0)).unwrap();
        let b = b.into_iter().map(|mut h| {
            h.score = (h.score * 1e6).round();
            h
        });
        let g = g.into_iter().map(|mut h| {
            h.score = (h.score * 1e6).round();
            h
        });
        assert_eq!(g.collect::<Vec<_>>(), b.collect::<Vec<_>>(), "seed {seed}");
    }
}

#[test]
fn wider_beams_score_at_least_greedy_on_these_decoders() {
    for seed in 0..40 {
        let t = Table {
            probs: pseudo(seed),
        };
        let g = greedy(&t, vec![vec![]], 1, 12).unwrap();
        let b = beam_search(&t, vec![vec![]], 1, &opts(5, 0.0)).unwrap();
        // Greedy's sequence is one of the candidates beam search could keep; a finished beam result is at
        // least as likely unless greedy ran to max_len unfinished.
        if g[0].finished {
            assert!(
                b[0].score >= g[0].score - 1e-9,
                "seed {seed}: {:?} vs {:?}",
                b[0],
                g[0]
            );
        }
    }
}
