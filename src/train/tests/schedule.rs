//! Unit tests of `src/train/schedule.rs` (kept in a file of their own so the module reads as its public surface).

use super::*;

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-12, "{a} != {b}");
}

#[test]
fn step_lr_matches_pytorch() {
    // torch.optim.lr_scheduler.StepLR(opt(lr=0.1), step_size=2, gamma=0.5): 0.1, 0.1, 0.05, 0.05, 0.025
    let mut s = Scheduler::new(
        &Schedule::Step {
            every: 2,
            gamma: 0.5,
        },
        0.1,
        5,
        false,
    );
    let lrs: Vec<f64> = (0..5).map(|e| s.lr_for_epoch(e, None)).collect();
    for (a, b) in lrs.iter().zip([0.1, 0.1, 0.05, 0.05, 0.025]) {
        close(*a, b);
    }
}

#[test]
fn cosine_matches_pytorch() {
    // CosineAnnealingLR(T_max=4, eta_min=0.01) from 0.1: 0.1, 0.08681980515339464, 0.055,
    // 0.023180194846605363, then eta_min at epoch 4.
    let mut s = Scheduler::new(&Schedule::Cosine { min_lr: 0.01 }, 0.1, 4, false);
    let expected = [0.1, 0.08681980515339464, 0.055, 0.023180194846605363, 0.01];
    for (e, want) in expected.iter().enumerate() {
        close(s.lr_for_epoch(e, None), *want);
    }
}

#[test]
fn plateau_min_mode_matches_pytorch() {
    // ReduceLROnPlateau(mode='min', factor=0.5, patience=1) from lr 1.0, losses 1.0, 0.99995 (not better than
    // 1.0 by 1e-4 relative), 0.99991 (still not: needs < 0.9999), 0.5, 0.6, 0.7:
    // bad counts 0,1,2 -> reduce to 0.5 after the third, then 0, 1, 2 -> reduce to 0.25.
    let mut s = Scheduler::new(
        &Schedule::Plateau {
            factor: 0.5,
            patience: 1,
        },
        1.0,
        10,
        false,
    );
    close(s.lr_for_epoch(0, None), 1.0);
    let metrics = [1.0, 0.99995, 0.99991, 0.5, 0.6, 0.7];
    let expected = [1.0, 1.0, 0.5, 0.5, 0.5, 0.25];
    for (i, (m, want)) in metrics.iter().zip(expected).enumerate() {
        close(s.lr_for_epoch(i + 1, Some(*m)), want);
    }
}

#[test]
fn plateau_max_mode_and_resume() {
    let mut s = Scheduler::new(
        &Schedule::Plateau {
            factor: 0.1,
            patience: 0,
        },
        1e-3,
        10,
        true,
    );
    close(s.lr_for_epoch(1, Some(0.5)), 1e-3);
    close(s.lr_for_epoch(2, Some(0.6)), 1e-3);
    let saved = serde_json::to_string(&s).unwrap();
    let mut resumed: Scheduler = serde_json::from_str(&saved).unwrap();
    assert_eq!(resumed, s);
    // 0.6 again is not an improvement: with patience 0 the rate drops at once.
    close(resumed.lr_for_epoch(3, Some(0.6)), 1e-4);
    close(s.lr_for_epoch(3, Some(0.6)), 1e-4);
}
