//! Data loading: the mfeat views from the repository copy, every source format, and the diagnostics for
//! broken data, rendered as the user sees them.

use super::support::temp_dir;
use std::path::Path;

use candle_core::Device;
use fusec::data::{self, batches, check_against_model, FieldValues};
use fusec::diag::render;
use fusec::ir::{
    DataSpec, DimExpr, Dtype, FieldSpec, NonFinite, SourceKind, SourceSpec, SplitSpec,
};
use fusec::rng::SeededRng;
use fusec::source::{FileId, SourceMap, Span};

/// A .fuse text and the spans of substrings in it, so diagnostics point at real source.
struct Src {
    text: String,
    map: SourceMap,
    file: FileId,
}

impl Src {
    fn new(text: &str) -> Src {
        let mut map = SourceMap::default();
        let file = map.add("data.fuse", text, false);
        Src {
            text: text.to_string(),
            map,
            file,
        }
    }

    fn span(&self, needle: &str) -> Span {
        let start = self
            .text
            .find(needle)
            .unwrap_or_else(|| panic!("`{needle}` not in source"));
        Span::new(self.file, start, start + needle.len())
    }

    /// A field whose declaration and source call are found in the text by their exact wording.
    fn field(
        &self,
        name: &str,
        dtype: Dtype,
        dims: &[i64],
        decl: &str,
        call: &str,
        kind: SourceKind,
    ) -> FieldSpec {
        let file = call.split('"').nth(1).unwrap().to_string();
        FieldSpec {
            name: name.into(),
            dtype,
            dims: dims.iter().map(|d| DimExpr::Const(*d)).collect(),
            source: SourceSpec {
                kind,
                files: vec![("all".into(), file)],
                span: self.span(call),
            },
            classes: None,
            class_names: None,
            span: self.span(decl),
        }
    }
}

fn csv(start: usize, end: usize) -> SourceKind {
    SourceKind::Csv {
        start,
        end,
        header: true,
        scalar: false,
    }
}

fn csv_scalar(col: usize) -> SourceKind {
    SourceKind::Csv {
        start: col,
        end: col + 1,
        header: true,
        scalar: true,
    }
}

fn stratified(by: &str) -> SplitSpec {
    SplitSpec::Stratified {
        by: by.into(),
        train: 0.6,
        valid: 0.2,
        test: 0.2,
        seed: 0,
    }
}

const MFEAT: &str = r#"data mfeat {
  path = "data/mfeat"
  field fou: f32[76] = csv("mfeat-fou.csv", columns = 0..76)
  field zer: f32[47] = csv("mfeat-zer.csv", columns = 0..47)
  field mor: f32[6]  = csv("mfeat-mor.csv", columns = 0..6)
  field label: i64[] = csv("mfeat-fou.csv", column = 76, classes = 10)
  split = stratified(label, train = 0.6, valid = 0.2, test = 0.2, seed = 0)
  standardize = [fou, zer, mor]
}"#;

fn mfeat_spec(src: &Src) -> DataSpec {
    let mut label = src.field(
        "label",
        Dtype::I64,
        &[],
        "field label: i64[] = csv(\"mfeat-fou.csv\", column = 76, classes = 10)",
        "csv(\"mfeat-fou.csv\", column = 76, classes = 10)",
        csv_scalar(76),
    );
    label.classes = Some(10);
    let view = |name: &str, d: i64, pad: &str| {
        let call = format!("csv(\"mfeat-{name}.csv\", columns = 0..{d})");
        let decl = format!("field {name}: f32[{d}]{pad}= {call}");
        src.field(name, Dtype::F32, &[d], &decl, &call, csv(0, d as usize))
    };
    DataSpec {
        name: "mfeat".into(),
        path: "data/mfeat".into(),
        declared_in: String::new(),
        fields: vec![
            view("fou", 76, " "),
            view("zer", 47, " "),
            view("mor", 6, "  "),
            label,
        ],
        split: stratified("label"),
        standardize: vec!["fou".into(), "zer".into(), "mor".into()],
        nonfinite: NonFinite::Error,
        span: src.span(MFEAT),
        split_span: Span::default(),
    }
}

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn mfeat_loads_split_and_standardized() {
    let src = Src::new(MFEAT);
    let ds = data::load(&mfeat_spec(&src), repo())
        .unwrap_or_else(|d| panic!("{}", render(&d, &src.map, false)));
    assert_eq!(ds.n_examples(), 2000);
    assert_eq!(
        (ds.train.len(), ds.valid.len(), ds.test.len()),
        (1200, 400, 400)
    );
    let counts = &ds.report.classes["label"];
    assert_eq!(counts.train, vec![120; 10]);
    assert_eq!(counts.valid, vec![40; 10]);
    assert_eq!(counts.test, vec![40; 10]);
    // The splits are disjoint and cover every example.
    let mut all: Vec<usize> = ds
        .train
        .iter()
        .chain(&ds.valid)
        .chain(&ds.test)
        .copied()
        .collect();
    all.sort();
    assert_eq!(all, (0..2000).collect::<Vec<_>>());
    // Training means are ~0 and deviations ~1 (or the feature is constant on the training split).
    let fou = ds.gather("fou", &ds.train, &Device::Cpu).unwrap();
    assert_eq!(fou.dims(), &[1200, 76]);
    let rows: Vec<Vec<f32>> = fou.to_vec2().unwrap();
    for j in 0..76 {
        let mean: f64 = rows.iter().map(|r| r[j] as f64).sum::<f64>() / 1200.0;
        let var: f64 = rows
            .iter()
            .map(|r| (r[j] as f64 - mean).powi(2))
            .sum::<f64>()
            / 1200.0;
        assert!(mean.abs() < 1e-4, "feature {j}: mean {mean}");
        assert!(
            (var - 1.0).abs() < 1e-3 || var < 1e-9,
            "feature {j}: var {var}"
        );
    }
    // Validation data is standardized with the training statistics, so its mean is small but not exactly 0.
    let (mean, std) = &ds.standardization["mor"];
    assert_eq!((mean.len(), std.len()), (6, 6));
    assert!(std.iter().all(|s| *s > 0.0));
    let labels = ds.gather("label", &ds.test[..5], &Device::Cpu).unwrap();
    assert_eq!(
        (labels.dims(), labels.dtype()),
        (&[5][..], candle_core::DType::I64)
    );
    insta::assert_snapshot!("mfeat_report", ds.report.to_string());
}

#[test]
fn mfeat_split_is_deterministic() {
    let src = Src::new(MFEAT);
    let spec = mfeat_spec(&src);
    let a = data::load(&spec, repo()).unwrap();
    let b = data::load(&spec, repo()).unwrap();
    assert_eq!(a.train, b.train);
    assert_eq!(a.test, b.test);
    let mut other = spec.clone();
    other.split = SplitSpec::Stratified {
        by: "label".into(),
        train: 0.6,
        valid: 0.2,
        test: 0.2,
        seed: 1,
    };
    assert_ne!(data::load(&other, repo()).unwrap().train, a.train);
}

const BAD: &str = r#"data bad {
  path = "bad"
  field fou: f32[2] = csv("fou.csv", columns = 0..2)
  field zer: f32[3] = csv("zer.csv", columns = 0..3)
  field mor: f32[2] = csv("mor.csv", columns = 0..2)
  field label: i64[] = csv("label.csv", column = 0, classes = 3)
  field aux: f32[2] = csv("aux.csv", columns = 0..2)
  field wide: f32[3] = csv("aux.csv", columns = 0..2)
  split = stratified(label, train = 0.6, valid = 0.2, test = 0.2, seed = 0)
  standardize = [zer, mor, labl]
}"#;

fn bad_spec(src: &Src) -> DataSpec {
    let line = |name: &str| {
        let decl = src
            .text
            .lines()
            .find(|l| l.contains(&format!("field {name}:")))
            .unwrap()
            .trim()
            .to_string();
        let call = decl[decl.find("csv(").unwrap()..].to_string();
        (decl, call)
    };
    let field = |name: &str, dims: &[i64], kind: SourceKind| {
        let (decl, call) = line(name);
        src.field(name, Dtype::F32, dims, &decl, &call, kind)
    };
    let (decl, call) = line("label");
    let mut label = src.field("label", Dtype::I64, &[], &decl, &call, csv_scalar(0));
    label.classes = Some(3);
    DataSpec {
        name: "bad".into(),
        path: "bad".into(),
        declared_in: String::new(),
        fields: vec![
            field("fou", &[2], csv(0, 2)),
            field("zer", &[3], csv(0, 3)),
            field("mor", &[2], csv(0, 2)),
            label,
            field("aux", &[2], csv(0, 2)),
            field("wide", &[3], csv(0, 2)),
        ],
        split: stratified("label"),
        standardize: vec!["zer".into(), "mor".into(), "labl".into()],
        nonfinite: NonFinite::Error,
        span: src.span(BAD),
        split_span: Span::default(),
    }
}

#[test]
fn broken_data_reports_every_problem_at_once() {
    let root = temp_dir("data", "bad");
    let dir = root.join("bad");
    std::fs::create_dir_all(&dir).unwrap();
    // fou.csv is missing.
    std::fs::write(
        dir.join("zer.csv"),
        "a,b,c\n1,2,3\n4,5\n7,8,9\n1,2,3\n4,5,6\n",
    )
    .unwrap();
    std::fs::write(dir.join("mor.csv"), "a,b\n1,2\n3,nan\n5,6\n7,8\n9,10\n").unwrap();
    std::fs::write(dir.join("label.csv"), "y\n0\n1\n2\n12\n1\n").unwrap();
    std::fs::write(dir.join("aux.csv"), "a,b\n1,2\n3,4\n5,6\n").unwrap();
    let src = Src::new(BAD);
    let diags = data::load(&bad_spec(&src), &root).unwrap_err();
    let text = render(&diags, &src.map, false).replace(&root.display().to_string(), "<tmp>");
    let codes: Vec<&str> = diags.iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        [
            "fusec::data::unknown_field",
            "fusec::data::missing_file",
            "fusec::data::parse",
            "fusec::data::nonfinite",
            "fusec::data::label_range",
            "fusec::data::shape",
            "fusec::data::rows"
        ]
    );
    insta::assert_snapshot!("broken_data", text);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn npy_npz_safetensors_and_split_files() {
    let root = temp_dir("data", "formats");
    let x: Vec<f64> = (0..12).map(|v| v as f64).collect();
    std::fs::write(
        root.join("x_tr.npy"),
        data::npy::write_npy(&x[..8], &[4, 2], false),
    )
    .unwrap();
    std::fs::write(
        root.join("x_te.npy"),
        data::npy::write_npy(&x[8..], &[2, 2], false),
    )
    .unwrap();
    let y = [0.0, 1.0, 1.0, 0.0, 1.0, 0.0];
    write_npz(
        &root.join("y.npz"),
        "y_tr",
        &data::npy::write_npy(&y[..4], &[4], true),
    );
    let z = candle_core::Tensor::new(&[[1f32, 2.0, 3.0], [4.0, 5.0, 6.0]], &Device::Cpu).unwrap();
    let map = std::collections::HashMap::from([("z".to_string(), z)]);
    candle_core::safetensors::save(&map, root.join("z.safetensors")).unwrap();

    let span = Span::default();
    let field = |name: &str, dtype, dims: Vec<i64>, kind, files: &[(&str, &str)]| FieldSpec {
        name: name.into(),
        dtype,
        dims: dims.into_iter().map(DimExpr::Const).collect(),
        source: SourceSpec {
            kind,
            files: files
                .iter()
                .map(|(s, f)| (s.to_string(), f.to_string()))
                .collect(),
            span,
        },
        classes: None,
        class_names: None,
        span,
    };
    let spec = DataSpec {
        name: "formats".into(),
        path: ".".into(),
        declared_in: String::new(),
        fields: vec![
            field(
                "x",
                Dtype::F32,
                vec![2],
                SourceKind::Npy,
                &[("test", "x_te.npy"), ("train", "x_tr.npy")],
            ),
            field(
                "y",
                Dtype::I64,
                vec![],
                SourceKind::Npz { key: "y_tr".into() },
                &[("train", "y.npz"), ("test", "y.npz")],
            ),
        ],
        split: SplitSpec::Files {
            valid: None,
            stratify: None,
            seed: 0,
        },
        standardize: vec![],
        nonfinite: NonFinite::Error,
        span,
        split_span: Span::default(),
    };
    // y.npz holds only a training array: the test split reads 4 rows where x has 2, a row mismatch.
    let err = data::load(&spec, &root).unwrap_err();
    assert_eq!(
        err.iter().map(|d| d.code).collect::<Vec<_>>(),
        ["fusec::data::rows"]
    );
    let mut spec = spec;
    write_npz(
        &root.join("y_te.npz"),
        "y_te",
        &data::npy::write_npy(&y[4..], &[2], true),
    );
    spec.fields[1].source.files = vec![
        ("train".into(), "y.npz".into()),
        ("test".into(), "y_te.npz".into()),
    ];
    // Different keys per file are not expressible: the test file's key must be `y_tr` too.
    let err = data::load(&spec, &root).unwrap_err();
    assert!(
        err.iter().any(|d| d.code == "fusec::data::missing_key"),
        "{err:?}"
    );
    write_npz(
        &root.join("y_te.npz"),
        "y_tr",
        &data::npy::write_npy(&y[4..], &[2], true),
    );
    let ds = data::load(&spec, &root).unwrap();
    assert_eq!(
        (ds.train.clone(), ds.valid.len(), ds.test.clone()),
        (vec![0, 1, 2, 3], 0, vec![4, 5])
    );
    let xs = ds
        .gather("x", &[5, 0], &Device::Cpu)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    assert_eq!(xs, vec![vec![10.0, 11.0], vec![0.0, 1.0]]);
    assert_eq!(
        ds.fields["y"].values,
        FieldValues::I64(vec![0, 1, 1, 0, 1, 0])
    );
    // A bool field's batches come as u8, as the back end feeds `bool` inputs.
    let mut as_bool = ds.clone();
    if let Some(y) = as_bool.fields.get_mut("y") {
        y.dtype = Dtype::Bool;
    }
    let yb = as_bool.gather("y", &[1, 3], &Device::Cpu).unwrap();
    assert_eq!(yb.dtype(), candle_core::DType::U8);
    assert_eq!(yb.to_vec1::<u8>().unwrap(), vec![1, 0]);

    let st = DataSpec {
        fields: vec![field(
            "z",
            Dtype::F32,
            vec![3],
            SourceKind::Safetensors { key: "z".into() },
            &[("all", "z.safetensors")],
        )],
        split: SplitSpec::Random {
            train: 0.5,
            valid: 0.0,
            test: 0.5,
            seed: 3,
        },
        standardize: vec!["z".into()],
        ..spec.clone()
    };
    let ds = data::load(&st, &root).unwrap();
    assert_eq!((ds.train.len(), ds.test.len()), (1, 1));
    // One training example: every feature has deviation 0, so it is only centred.
    assert_eq!(ds.standardization["z"].1, vec![1.0, 1.0, 1.0]);
    let mut bad_key = st.clone();
    bad_key.fields[0].source.kind = SourceKind::Safetensors { key: "zz".into() };
    let err = data::load(&bad_key, &root).unwrap_err();
    assert_eq!(err.0[0].help.as_deref(), Some("did you mean `z`?"));
    std::fs::remove_dir_all(&root).unwrap();
}

fn write_npz(path: &Path, key: &str, npy: &[u8]) {
    use std::io::Write;
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file(format!("{key}.npy"), options).unwrap();
    zip.write_all(npy).unwrap();
    zip.finish().unwrap();
}

#[test]
fn nonfinite_zero_replaces_and_counts() {
    let root = temp_dir("data", "nonfinite");
    std::fs::write(
        root.join("f.csv"),
        "a,b,y\n1,inf,0\nnan,2,1\n3,4,0\n5,6,1\n",
    )
    .unwrap();
    let span = Span::default();
    let field = |name: &str, dtype, dims: Vec<DimExpr>, kind| FieldSpec {
        name: name.into(),
        dtype,
        dims,
        source: SourceSpec {
            kind,
            files: vec![("all".into(), "f.csv".into())],
            span,
        },
        classes: Some(2).filter(|_| name == "y"),
        class_names: None,
        span,
    };
    let spec = DataSpec {
        name: "nf".into(),
        path: ".".into(),
        declared_in: String::new(),
        fields: vec![
            field("x", Dtype::F32, vec![DimExpr::Const(2)], csv(0, 2)),
            field("y", Dtype::I64, vec![], csv_scalar(2)),
        ],
        split: SplitSpec::Random {
            train: 0.5,
            valid: 0.25,
            test: 0.25,
            seed: 0,
        },
        standardize: vec![],
        nonfinite: NonFinite::Zero,
        span,
        split_span: Span::default(),
    };
    let ds = data::load(&spec, &root).unwrap();
    assert_eq!(
        ds.fields["x"].values,
        FieldValues::F32(vec![1.0, 0.0, 0.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    );
    assert_eq!(ds.report.replaced["x"], 2);
    assert!(ds
        .report
        .to_string()
        .contains("x: 2 non-finite values replaced by 0"));
    assert_eq!((ds.train.len(), ds.valid.len(), ds.test.len()), (2, 1, 1));
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn batches_shuffle_and_drop_a_single_trailing_example() {
    let idx: Vec<usize> = (0..7).collect();
    assert_eq!(
        batches(&idx, 3, None, false),
        vec![vec![0, 1, 2], vec![3, 4, 5], vec![6]]
    );
    assert_eq!(
        batches(&idx, 3, None, true),
        vec![vec![0, 1, 2], vec![3, 4, 5]]
    );
    assert_eq!(batches(&idx[..1], 3, None, true), vec![vec![0]]);
    let mut rng = SeededRng::new(5);
    let shuffled = batches(&idx, 4, Some(&mut rng), false);
    let mut flat: Vec<usize> = shuffled.concat();
    assert_ne!(flat, idx, "seed 5 shuffles 7 items");
    flat.sort();
    assert_eq!(flat, idx);
    let again = batches(&idx, 4, Some(&mut SeededRng::new(5)), false);
    assert_eq!(again, shuffled);
    let mut report = fusec::data::DataReport::default();
    data::batches_counted(&idx, 3, None, true, &mut report);
    assert_eq!(report.dropped_batches, 1);
}

const MODEL: &str = r#"model m {
  input fou: f32[B, 76]
  input zr: f32[B, 47]
  input mor: f32[B, 7]
  input label: f32[B]
}"#;

#[test]
fn model_inputs_are_checked_against_fields() {
    use fusec::ir::{Graph, Model, ModelInput, NodeId};
    let text = format!("{MFEAT}\n{MODEL}");
    let src = Src::new(&text);
    let spec = mfeat_spec(&src);
    let input = |name: &str, dtype, dims: Vec<DimExpr>| {
        let line = MODEL
            .lines()
            .find(|l| l.contains(&format!("input {name}:")))
            .unwrap()
            .trim();
        ModelInput {
            name: name.into(),
            node: NodeId(petgraph::stable_graph::NodeIndex::new(0)),
            dtype,
            dims,
            span: src.span(line),
        }
    };
    let b = || DimExpr::Sym("B".into());
    let model = Model {
        name: "m".into(),
        span: src.span(MODEL),
        graph: Graph::default(),
        inputs: vec![
            input("fou", Dtype::F32, vec![b(), DimExpr::Const(76)]),
            input("zr", Dtype::F32, vec![b(), DimExpr::Const(47)]),
            input("mor", Dtype::F32, vec![b(), DimExpr::Const(7)]),
            input("label", Dtype::F32, vec![b()]),
        ],
        outputs: vec![],
        losses: vec![],
        named_scalars: vec![],
        blocks: vec![],
    };
    let diags = check_against_model(&spec, &model);
    let codes: Vec<&str> = diags.iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        [
            "fusec::data::no_field",
            "fusec::data::input_mismatch",
            "fusec::data::input_mismatch"
        ]
    );
    insta::assert_snapshot!("model_vs_data", render(&diags, &src.map, false));
}
