//! `fusec plot`: the figures' structure read back from the SVG text — titles, axis descriptions, tick and legend
//! labels, one polyline per solid series, cells, bars and points — for run directories written by hand (the
//! files a run leaves) and for a real run through the binary (`run --plots`, `eval --robustness`, `plot`).

use std::path::{Path, PathBuf};

use fusec::api::{self, figures, CompareRow, Comparison, FigureKind, PlotRequest};
use fusec::plot::{render, Figure, Format};

use super::support::{fusec, temp_dir};

/// What an SVG holds, as plotters writes it (one element per line, text content on its own line).
struct Svg {
    texts: Vec<String>,
    /// The points of every polyline.
    polylines: Vec<Vec<(f64, f64)>>,
    rects: usize,
    circles: usize,
}

impl Svg {
    fn parse(svg: &str) -> Svg {
        let texts = svg
            .split("<text")
            .skip(1)
            .filter_map(|t| {
                let body = &t[t.find('>')? + 1..t.find("</text>")?];
                Some(body.trim().to_string())
            })
            .collect();
        let polylines = svg
            .split("<polyline")
            .skip(1)
            .filter_map(|p| {
                let pts = &p[p.find("points=\"")? + 8..];
                let xy = pts[..pts.find('"')?].split_whitespace().filter_map(|xy| {
                    let (x, y) = xy.split_once(',')?;
                    Some((x.parse().ok()?, y.parse().ok()?))
                });
                Some(xy.collect())
            })
            .collect();
        Svg {
            texts,
            polylines,
            rects: svg.matches("<rect").count(),
            circles: svg.matches("<circle").count(),
        }
    }

    /// Polylines of `n` points spanning more than 200 pixels: whole solid series (the pieces of dashed ones
    /// and the axes' ticks are short, the axes themselves have two points).
    fn solid_series(&self, n: usize) -> usize {
        self.polylines
            .iter()
            .filter(|p| p.len() == n && p.last().unwrap().0 - p[0].0 > 200.0)
            .count()
    }

    fn has_text(&self, t: &str) -> bool {
        self.texts.iter().any(|x| x == t)
    }

    fn assert_texts(&self, wanted: &[&str]) {
        for w in wanted {
            assert!(self.has_text(w), "no text `{w}` in {:?}", self.texts);
        }
    }
}

fn svg_of(figure: &Figure) -> Svg {
    Svg::parse(&String::from_utf8(render(figure, Format::Svg).unwrap()).unwrap())
}

/// A run directory as `fusec run` leaves it: per-epoch records, the record of the plan, and optionally the
/// final report.
fn fake_run(dir: &Path, rows: &[&str], select: &str, report: Option<&str>) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("metrics.jsonl"), rows.join("\n") + "\n").unwrap();
    let config = serde_json::json!({
        "label_names": {"emotion": ["neutral", "happy", "sad"]},
        "resolved": {"train": {
            "select": {"split": "valid", "metric": select, "maximize": select != "loss"},
            "task": {"target": "emotion"}
        }}
    });
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    if let Some(r) = report {
        std::fs::write(dir.join("report.json"), r).unwrap();
    }
}

const GAN_ROWS: &[&str] = &[
    r#"{"epoch":1,"lr":0.001,"train.loss.disc":1.4,"train.loss.main":2.0,"valid.loss":1.5,"valid.accuracy":0.50}"#,
    r#"{"epoch":2,"lr":0.001,"train.loss.disc":1.2,"train.loss.main":1.5,"valid.loss":1.2,"valid.accuracy":0.70}"#,
    r#"{"epoch":3,"lr":0.001,"train.loss.disc":1.1,"train.loss.main":1.1,"valid.loss":1.1,"valid.accuracy":0.75}"#,
    r#"{"epoch":4,"lr":0.001,"train.loss.disc":1.0,"train.loss.main":0.9,"valid.loss":1.3,"valid.accuracy":0.72}"#,
];

#[test]
fn learning_curves_of_two_runs_overlaid_with_the_best_epochs_marked() {
    let root = temp_dir("plot", "curves");
    let (a, b) = (root.join("gan"), root.join("other"));
    let report = r#"{"best_epoch": 3, "selection": "valid.accuracy",
        "test_confusion": [[5, 1, 0], [2, 7, 1], [0, 0, 9]]}"#;
    fake_run(&a, GAN_ROWS, "accuracy", Some(report));
    // An unfinished run: its best epoch comes from its records (the highest valid.accuracy, epoch 2).
    let rows = [
        r#"{"epoch":1,"train.loss":2.0,"valid.loss":1.8,"valid.accuracy":0.40}"#,
        r#"{"epoch":2,"train.loss":1.0,"valid.loss":1.1,"valid.accuracy":0.80}"#,
        r#"{"epoch":3,"train.loss":0.5,"valid.loss":1.4,"valid.accuracy":0.60}"#,
    ];
    fake_run(&b, &rows, "accuracy", None);
    let figs = figures(&[a.clone(), b.clone()], &[]).unwrap();
    let names: Vec<&str> = figs.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["curves", "gan-confusion"]);
    let Figure::Curves(runs) = &figs[0].figure else {
        panic!("not curves")
    };
    assert_eq!(runs.len(), 2);
    let labels: Vec<&str> = runs[0].losses.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(
        labels,
        ["train loss (disc)", "train loss (main)", "valid loss"]
    );
    assert_eq!((runs[0].best_epoch, runs[1].best_epoch), (Some(3), Some(2)));
    let svg = svg_of(&figs[0].figure);
    svg.assert_texts(&[
        "learning curves of 2 runs",
        "loss",
        "selection metric: valid.accuracy",
        "epoch",
        "valid.accuracy",
        "gan: train loss (disc)",
        "gan: train loss (main)",
        "gan: valid loss",
        "gan: valid.accuracy",
        "other: train loss",
        "other: valid loss",
        "other: valid.accuracy",
        "best epoch 3",
        "best epoch 2",
    ]);
    // Solid series are one polyline each, with a point per epoch: gan's first training loss and metric (4
    // epochs), the other run's training loss and metric (3 epochs). Dashed ones are drawn in pieces.
    assert_eq!(svg.solid_series(4), 2, "{:?}", svg.polylines);
    assert_eq!(svg.solid_series(3), 2, "{:?}", svg.polylines);
    // One point marks each run's best epoch.
    assert_eq!(svg.circles, 2);
}

#[test]
fn the_confusion_matrix_names_its_classes_or_numbers_them() {
    let root = temp_dir("plot", "confusion");
    let report = r#"{"best_epoch": 1, "selection": "valid.accuracy",
        "test_confusion": [[5, 1, 0], [2, 7, 1], [0, 0, 9]]}"#;
    fake_run(&root.join("named"), GAN_ROWS, "accuracy", Some(report));
    let figs = figures(&[root.join("named")], &[FigureKind::Confusion]).unwrap();
    assert_eq!(figs.len(), 1);
    let svg = svg_of(&figs[0].figure);
    svg.assert_texts(&[
        "test confusion matrix: named",
        "true class",
        "predicted class",
        "neutral",
        "happy",
        "sad",
        "7",
        "9",
    ]);
    // A white background and a cell per count.
    assert_eq!(svg.rects, 1 + 9);
    // A run whose data names no classes (4 classes, 3 names recorded for another field size) uses indices.
    let report4 =
        r#"{"best_epoch": 1, "test_confusion": [[1,0,0,0],[0,1,0,0],[0,0,1,0],[0,0,0,1]]}"#;
    fake_run(&root.join("plain"), GAN_ROWS, "accuracy", Some(report4));
    let figs = figures(&[root.join("plain")], &[FigureKind::Confusion]).unwrap();
    let svg = svg_of(&figs[0].figure);
    svg.assert_texts(&["0", "1", "2", "3"]);
    assert!(!svg.has_text("neutral"));
}

#[test]
fn a_comparison_is_bars_with_error_bars_and_a_point_per_seed() {
    let dir = temp_dir("plot", "compare");
    let row = |method: &str, values: Vec<f64>| CompareRow {
        method: method.into(),
        params: 1000,
        flops: 2000,
        seconds: vec![1.0; values.len()],
        epoch_seconds: vec![0.1; values.len()],
        values,
    };
    let comparison = Comparison {
        rows: vec![
            row("concat", vec![0.90, 0.92, 0.91]),
            row("autofusion", vec![0.95, 0.94, 0.96]),
        ],
        metric: "accuracy".into(),
        seeds: vec![1, 2, 3],
        folds: None,
    };
    comparison.write(&dir).unwrap();
    let figs = figures(std::slice::from_ref(&dir), &[]).unwrap();
    assert_eq!(figs.len(), 1);
    let Figure::Bars { bars, .. } = &figs[0].figure else {
        panic!("not bars")
    };
    assert_eq!(bars.len(), 2);
    assert!((bars[1].mean - 0.95).abs() < 1e-12 && (bars[1].std - 0.01).abs() < 1e-9);
    let svg = svg_of(&figs[0].figure);
    svg.assert_texts(&[
        "test accuracy: mean ± std over 3 seeds",
        "method",
        "test accuracy",
        "concat",
        "autofusion",
    ]);
    // One point per seed, and the dot of each error bar at its mean.
    assert_eq!(svg.circles, 6 + 2);
    // Background and two bars.
    assert_eq!(svg.rects, 3);
}

#[test]
fn plot_writes_svg_and_png_and_reports_every_mistake() {
    let root = temp_dir("plot", "output");
    let run = root.join("run");
    let report = r#"{"best_epoch": 2, "test_confusion": [[1, 0], [0, 1]]}"#;
    fake_run(&run, GAN_ROWS, "accuracy", Some(report));
    let req = |output: Option<PathBuf>, only: Vec<FigureKind>| PlotRequest {
        dirs: vec![run.clone()],
        output,
        only,
        format: Format::Png,
    };
    let written = api::plot(&req(None, vec![])).unwrap();
    assert_eq!(
        written,
        [
            run.join("plots/curves.png"),
            run.join("plots/confusion.png")
        ]
    );
    let png = std::fs::read(&written[0]).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let one = root.join("figs/curves.svg");
    let written = api::plot(&req(Some(one.clone()), vec![FigureKind::Curves])).unwrap();
    assert_eq!(written, std::slice::from_ref(&one));
    assert!(std::fs::read_to_string(&one).unwrap().starts_with("<svg"));

    let codes = |r: Result<Vec<PathBuf>, api::Error>| -> Vec<(&'static str, String)> {
        let (d, _) = r.unwrap_err().diagnostics();
        d.iter().map(|d| (d.code, d.message.clone())).collect()
    };
    let several = codes(api::plot(&req(Some(root.join("all.svg")), vec![])));
    assert_eq!(several[0].0, "fusec::plot::output");
    assert!(
        several[0].1.contains("2 figures: curves, confusion"),
        "{several:?}"
    );
    let jpeg = codes(api::plot(&req(
        Some(root.join("x.jpg")),
        vec![FigureKind::Curves],
    )));
    assert_eq!(jpeg[0].0, "fusec::plot::output");
    // A missing directory and an empty one: both reported at once.
    std::fs::create_dir_all(root.join("empty")).unwrap();
    let bad = PlotRequest {
        dirs: vec![root.join("missing"), root.join("empty")],
        output: None,
        only: vec![],
        format: Format::Svg,
    };
    let both = codes(api::plot(&bad));
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(both.iter().all(|(c, _)| *c == "fusec::plot::rundir"));
    assert!(both[1].1.contains("holds nothing to plot"), "{both:?}");
    // A damaged record names its file.
    std::fs::write(run.join("metrics.jsonl"), "{\"epoch\": 1}\nnot json\n").unwrap();
    let damaged = codes(api::plot(&req(None, vec![])));
    assert!(
        damaged[0].1.contains("metrics.jsonl") && damaged[0].1.contains("line 2"),
        "{damaged:?}"
    );
}

#[test]
fn a_real_run_draws_its_curves_confusion_matrix_and_robustness_table() {
    let dir = temp_dir("plot", "real");
    let out = dir.join("run");
    let out_s = out.to_str().unwrap();
    let file = "examples/mfeat/concat.fuse";
    let (code, stdout, err) = fusec(&[
        "run", file, "--epochs", "2", "--out", out_s, "--plots", "-q",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("figure:"), "{stdout}");
    let curves = Svg::parse(&std::fs::read_to_string(out.join("plots/curves.svg")).unwrap());
    curves.assert_texts(&[
        "learning curves: run",
        "train loss",
        "valid loss",
        "valid.accuracy",
        "epoch",
    ]);
    assert!(
        curves.texts.iter().any(|t| t.starts_with("best epoch ")),
        "{:?}",
        curves.texts
    );
    let confusion = Svg::parse(&std::fs::read_to_string(out.join("plots/confusion.svg")).unwrap());
    confusion.assert_texts(&["true class", "predicted class", "0", "9"]);
    assert_eq!(confusion.rects, 1 + 100);
    let (code, _, err) = fusec(&["eval", file, "--checkpoint", out_s, "--robustness"]);
    assert_eq!(code, 0, "{err}");
    let (code, stdout, err) = fusec(&["plot", out_s, "--figure", "robustness"]);
    assert_eq!(code, 0, "{err}");
    assert!(stdout.trim().ends_with("robustness_test.svg"), "{stdout}");
    let rob = Svg::parse(&std::fs::read_to_string(out.join("plots/robustness_test.svg")).unwrap());
    rob.assert_texts(&[
        "unperturbed",
        "fou zero",
        "fou mean",
        "fou noise 0.5",
        "accuracy",
        "loss",
        "perturbation",
    ]);
    let (code, _, err) = fusec(&[
        "plot",
        out_s,
        "--output",
        dir.join("x.gif").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("fusec::plot::output"), "{err}");
}
