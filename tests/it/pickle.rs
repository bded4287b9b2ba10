//! The restricted unpickler and the MulT / LMF release readers against the format samples in
//! tests/data/formats (and the small extra pickles in tests/data/formats/extra, written by its make.py).
//! Expected values were printed with Python 3.11 and NumPy 2.4.6 (`pickle.load`, then indexing) for the
//! samples and *_np2_* files, and with NumPy 1.26.4 for the *_np1_* files and py2_style.pkl.

use std::path::PathBuf;
use std::sync::Arc;

use fusec::data::inspect::{inspect_bytes, inspect_file};
use fusec::data::pickle::{
    detect_layout, load_release, read_lmf, read_mult, read_pickle, ArrayData, LabelKind,
    PickleErrorKind, Release, ReleaseProblem, Value,
};
use fusec::diag::{render, Diagnostics};
use fusec::source::{SourceMap, Span};

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/formats")
        .join(name)
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(path(name)).unwrap()
}

fn value(name: &str) -> Value {
    read_pickle(&bytes(name)).unwrap()
}

fn f32s<'a>(r: &'a Release, split: &str, field: &str) -> (&'a [usize], &'a [f32]) {
    match &r.splits[split].fields[field] {
        (shape, ArrayData::F32(v)) => (shape, v),
        other => panic!("{field} is not f32: {other:?}"),
    }
}

fn i64s<'a>(r: &'a Release, split: &str, field: &str) -> (&'a [usize], &'a [i64]) {
    match &r.splits[split].fields[field] {
        (shape, ArrayData::I64(v)) => (shape, v),
        other => panic!("{field} is not i64: {other:?}"),
    }
}

/// Element `index` of a C-order array of `shape`.
fn at<T: Copy>(values: &[T], shape: &[usize], index: &[usize]) -> T {
    let flat = index.iter().zip(shape).fold(0, |acc, (i, d)| acc * d + i);
    values[flat]
}

fn positives(labels: &[i64]) -> Vec<i64> {
    (0..4)
        .map(|e| labels.iter().skip(e).step_by(4).sum())
        .collect()
}

#[test]
fn mult_iemocap_sample_reads_with_shapes_values_and_cleaning() {
    let v = value("iemocap_data.pkl");
    assert_eq!(detect_layout(&v), Some("mult"));
    let r = read_mult(&v, LabelKind::EmotionBinary).unwrap();
    assert_eq!(r.layout, "mult");
    for (split, n) in [("train", 24), ("valid", 8), ("test", 8)] {
        assert_eq!(f32s(&r, split, "text").0, &[n, 20, 300]);
        assert_eq!(f32s(&r, split, "audio").0, &[n, 20, 74]);
        assert_eq!(f32s(&r, split, "vision").0, &[n, 20, 35]);
        assert_eq!(i64s(&r, split, "labels").0, &[n, 4]);
        assert_eq!(r.splits[split].n_examples(), n);
        // Each split's audio holds three -inf values, set to 0 as MulT does.
        assert_eq!(r.replaced[&format!("{split}/audio")], 3);
        assert_eq!(r.replaced[&format!("{split}/text")], 0);
    }
    let (shape, text) = f32s(&r, "train", "text");
    assert_eq!(at(text, shape, &[3, 5, 7]), -0.11115643);
    let (shape, vision) = f32s(&r, "train", "vision");
    assert_eq!(at(vision, shape, &[23, 19, 34]), 0.5428998);
    let (_, audio) = f32s(&r, "train", "audio");
    assert_eq!(
        &audio[..3],
        &[0.0, 0.0, 0.0],
        "-inf at [0, 0, 0..3] becomes 0"
    );
    let (_, labels) = i64s(&r, "train", "labels");
    assert_eq!(&labels[..12], &[0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(positives(labels), vec![10, 5, 6, 6]);
    let (_, test) = i64s(&r, "test", "labels");
    assert_eq!(&test[20..24], &[0, 1, 1, 1]);
}

#[test]
fn mult_mosi_sample_reads_sentiment_and_skips_the_id_strings() {
    let v = value("mosi_data.pkl");
    assert_eq!(detect_layout(&v), Some("mult"));
    let r = read_mult(&v, LabelKind::Sentiment).unwrap();
    let (shape, labels) = f32s(&r, "train", "labels");
    assert_eq!(shape, &[24]);
    assert_eq!(
        &labels[..4],
        &[-0.0049405284, 1.4182104, 0.7710597, 0.7090089]
    );
    let (shape, audio) = f32s(&r, "valid", "audio");
    assert_eq!(at(audio, shape, &[1, 2, 3]), -0.25624147);
    assert_eq!(r.replaced["test/audio"], 3);
    assert!(!r.splits["train"].fields.contains_key("id"));
    // Read with the wrong label kind: every split's labels are a problem, with a hint at the right kind.
    let problems = read_mult(&v, LabelKind::EmotionBinary).unwrap_err();
    assert_eq!(problems.len(), 3);
    assert_eq!(problems[0].path_text(), "'train'/'labels'");
    assert!(problems[0]
        .help
        .as_deref()
        .unwrap()
        .contains("sentiment label kind"));
    // The id field is a unicode array: kept in the tree, not numbers.
    let Some(Value::NdArray(id)) = v.get("train").and_then(|t| t.get("id")) else {
        panic!()
    };
    assert_eq!(
        (id.dtype.descr().as_str(), id.shape.as_slice()),
        ("<U6", &[24, 3][..])
    );
}

#[test]
fn lmf_sample_merges_the_four_emotions_labels() {
    let v = value("iemocap_lmf.pkl");
    assert_eq!(detect_layout(&v), Some("lmf"));
    let r = read_lmf(&v).unwrap();
    assert_eq!(r.layout, "lmf");
    assert_eq!(f32s(&r, "train", "covarep").0, &[24, 74]);
    assert_eq!(f32s(&r, "valid", "facet").0, &[8, 35]);
    assert_eq!(f32s(&r, "test", "glove").0, &[8, 20, 300]);
    let (shape, labels) = i64s(&r, "train", "labels");
    assert_eq!(shape, &[24, 4]);
    // Columns in MulT order: neutral, happy, sad, angry.
    assert_eq!(
        &labels[..16],
        &[0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0]
    );
    assert_eq!(positives(labels), vec![5, 5, 11, 6]);
    let (shape, covarep) = f32s(&r, "train", "covarep");
    assert_eq!(at(covarep, shape, &[1, 0]), -0.045761283);
    assert_eq!(at(covarep, shape, &[1, 2]), 0.0, "the NaN becomes 0");
    assert_eq!(r.replaced["train/covarep"], 1);
    assert_eq!(r.replaced["valid/covarep"], 0);
    let (shape, glove) = f32s(&r, "test", "glove");
    assert_eq!(at(glove, shape, &[2, 3, 4]), -0.016236778);
}

#[test]
fn protocol_2_big_endian_f8_and_fortran_order() {
    let r = read_mult(&value("extra/mult_np2_p2.pkl"), LabelKind::EmotionBinary).unwrap();
    let (shape, audio) = f32s(&r, "train", "audio");
    assert_eq!(at(audio, shape, &[0, 0, 1]), 0.2987455375084699f64 as f32);
    assert_eq!(
        (at(audio, shape, &[0, 0, 0]), at(audio, shape, &[1, 1, 2])),
        (0.0, 0.0)
    );
    assert_eq!(
        (r.replaced["train/audio"], r.replaced["valid/audio"]),
        (2, 1)
    );
    let (shape, vision) = f32s(&r, "train", "vision");
    assert_eq!(at(vision, shape, &[2, 1, 0]), 0.07451622933149338f64 as f32);
    assert_eq!(at(vision, shape, &[1, 0, 1]), 0.11935402452945709f64 as f32);
    let (_, text) = f32s(&r, "valid", "text");
    assert_eq!(
        at(text, &[2, 2, 4], &[1, 1, 3]),
        -0.443581223487854f64 as f32
    );
    assert_eq!(
        i64s(&r, "train", "labels").1,
        &[0, 0, 0, 1, 0, 0, 1, 1, 0, 1, 0, 1]
    );
    let Some(Value::NdArray(raw)) = value("extra/mult_np2_p2.pkl")
        .get("train")
        .and_then(|t| t.get("audio"))
        .cloned()
    else {
        panic!()
    };
    assert_eq!(raw.dtype.descr(), ">f8");
}

#[test]
fn protocol_5_frombuffer_arrays() {
    let r = read_mult(&value("extra/mult_np2_p5.pkl"), LabelKind::EmotionBinary).unwrap();
    let (shape, audio) = f32s(&r, "train", "audio");
    assert_eq!(at(audio, shape, &[0, 0, 1]), -0.5428919196128845f64 as f32);
    let (shape, vision) = f32s(&r, "train", "vision");
    assert_eq!(at(vision, shape, &[2, 1, 0]), 0.966447114944458f64 as f32);
    assert_eq!(
        i64s(&r, "train", "labels").1,
        &[0, 0, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1]
    );
    assert_eq!(r.replaced["train/audio"], 2);
}

#[test]
fn numpy_1_pickles_with_object_ids_and_bytes_keys() {
    let v = value("extra/mosi_np1_p4.pkl");
    let r = read_mult(&v, LabelKind::Sentiment).unwrap();
    assert_eq!(
        f32s(&r, "train", "labels").1,
        &[-2.0988016, 1.8980286, -0.723323]
    );
    let (shape, text) = f32s(&r, "test", "text");
    assert_eq!(at(text, shape, &[1, 0, 2]), -0.8579564690589905f64 as f32);
    assert_eq!(r.replaced["train/audio"], 2);
    let Some(Value::ObjectArray { shape, items }) = v.get("train").and_then(|t| t.get("id")) else {
        panic!()
    };
    assert_eq!(shape, &[3, 3]);
    assert_eq!(
        &items[3..6],
        &[
            Value::Str("v1".into()),
            Value::Str("1".into()),
            Value::Str("x".into())
        ]
    );

    let r = read_lmf(&value("extra/lmf_np1_p2.pkl")).unwrap();
    assert_eq!(
        i64s(&r, "train", "labels").1,
        &[0, 1, 1, 1, 0, 0, 0, 1, 1, 0, 1, 1, 0, 0, 0, 0]
    );
    let (shape, covarep) = f32s(&r, "train", "covarep");
    assert_eq!(
        &covarep[6..9],
        &[
            -0.975152313709259f64 as f32,
            0.0,
            -0.5428919196128845f64 as f32
        ]
    );
    assert_eq!(shape, &[4, 3]);
    let (shape, glove) = f32s(&r, "valid", "glove");
    assert_eq!(
        at(glove, shape, &[1, 1, 3]),
        -0.012405388988554478f64 as f32
    );
}

#[test]
fn python_2_binstring_pickle() {
    let v = value("extra/py2_style.pkl");
    let Some(Value::NdArray(a)) = v.get("train") else {
        panic!("{v:?}")
    };
    assert!(matches!(&v, Value::Dict(items) if items[0].0 == Value::Bytes(b"train".to_vec())));
    let values = a.to_f32().unwrap();
    assert_eq!((values[0], values[1], values[3]), (1.0, -2.0, 4.0));
    assert!(values[2].is_nan());

    // The same array declared big-endian (Python 2 writes the byte order as a str, read as bytes).
    let mut data = bytes("extra/py2_style.pkl");
    let at = data.windows(3).position(|w| w == b"U\x01<").unwrap();
    data[at + 2] = b'>';
    let Some(Value::NdArray(a)) = read_pickle(&data).unwrap().get("train").cloned() else {
        panic!()
    };
    assert_eq!(
        a.to_f32().unwrap()[0],
        f32::from_be_bytes(1.0f32.to_le_bytes())
    );

    // Protocol 0 as Python 2 writes it: STRING literals with escapes are bytes.
    let v = read_pickle(b"(dp0\nS'train'\np1\nS'a\\x00\\'b'\np2\ns.").unwrap();
    assert_eq!(v.get("train"), Some(&Value::Bytes(b"a\x00'b".to_vec())));
}

#[test]
fn every_value_kind_reads_the_same_at_protocols_2_4_and_5() {
    let v = value("extra/misc_np2_p4.pkl");
    assert_eq!(value("extra/misc_np2_p2.pkl"), v);
    assert_eq!(
        value("extra/misc_np2_p0.pkl"),
        v,
        "protocol 0 (UNICODE, INT, FLOAT, PUT/GET)"
    );
    let p5 = value("extra/misc_np2_p5.pkl");
    let arrays = |v: &Value, k: &str| match v.get(k) {
        Some(Value::NdArray(a)) => a.to_f64().unwrap(),
        other => panic!("{k}: {other:?}"),
    };
    for key in ["be_i4", "fortran_f8", "bools", "u2", "f2"] {
        assert_eq!(arrays(&v, key), arrays(&p5, key), "{key}");
    }
    assert_eq!(v.get("none"), Some(&Value::None));
    assert_eq!(
        v.get("flags"),
        Some(&Value::List(vec![Value::Bool(true), Value::Bool(false)]))
    );
    let ints = [0, -1, 255, 65535, -70000, 1 << 40, -(1 << 62)]
        .map(Value::Int)
        .to_vec();
    assert_eq!(v.get("ints"), Some(&Value::Tuple(ints)));
    assert_eq!(v.get("float"), Some(&Value::Float(-2.5)));
    assert_eq!(v.get("text"), Some(&Value::Str("héllo".into())));
    assert_eq!(v.get("raw"), Some(&Value::Bytes(vec![0, 1, 255])));
    assert_eq!(v.get("scalar_f4"), Some(&Value::Float(2.5)));
    assert_eq!(v.get("scalar_i8"), Some(&Value::Int(-7)));
    assert_eq!(v.get("bytes_key"), Some(&Value::Int(1)));
    assert_eq!(arrays(&v, "be_i4"), vec![1.0, -2.0, 3.0, 4.0]);
    assert_eq!(arrays(&v, "fortran_f8"), vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
    assert_eq!(arrays(&v, "bools"), vec![1.0, 0.0, 1.0]);
    assert_eq!(arrays(&v, "u2"), vec![1.0, 65535.0]);
    assert_eq!(arrays(&v, "f2"), vec![0.5, -1.0]);
    let Some(Value::NdArray(words)) = v.get("words") else {
        panic!()
    };
    assert!(words.to_f32().unwrap_err().contains("<U2"));
    let objects = vec![Value::Str("a".into()), Value::Int(1), Value::None];
    assert_eq!(
        v.get("objects"),
        Some(&Value::ObjectArray {
            shape: vec![3],
            items: objects
        })
    );
}

/// `dict[key]` removed or replaced, for wrong-layout tests.
fn edit(v: &mut Value, path: &[&str], new: Option<Value>) {
    let Value::Dict(items) = v else { panic!() };
    let i = items
        .iter()
        .position(|(k, _)| k.key_text() == Some(path[0]))
        .unwrap();
    if path.len() > 1 {
        return edit(&mut items[i].1, &path[1..], new);
    }
    match new {
        Some(n) => items[i].1 = n,
        None => {
            items.remove(i);
        }
    }
}

/// Problems rendered as the user sees them, labelled at the .fuse text naming the file.
fn rendered(problems: &[ReleaseProblem]) -> String {
    let text = "data iemocap {\n  source = mult_pickle(\"iemocap_data.pkl\")\n}\n";
    let mut map = SourceMap::default();
    let file = map.add("data.fuse", text, false);
    let start = text.find("mult_pickle").unwrap();
    let span = Span::new(file, start, text.find(")\n").unwrap() + 1);
    let diags = Diagnostics(problems.iter().map(|p| p.to_diagnostic(span)).collect());
    render(&diags, &map, false)
}

#[test]
fn a_missing_split_and_a_wrong_shape_name_their_key_paths() {
    let mut v = value("iemocap_data.pkl");
    edit(&mut v, &["valid"], None);
    let labels = v.get("test").and_then(|t| t.get("audio")).cloned();
    edit(&mut v, &["train", "labels"], labels);
    let problems = read_mult(&v, LabelKind::EmotionBinary).unwrap_err();
    let paths: Vec<String> = problems.iter().map(|p| p.path_text()).collect();
    assert_eq!(paths, vec!["'train'/'labels'", "'valid'"]);
    assert_eq!(problems[1].code, "fusec::data::pickle::missing_key");
    insta::assert_snapshot!("pickle_missing_valid", rendered(&problems));
}

#[test]
fn row_counts_must_agree_within_a_split() {
    let mut v = value("iemocap_data.pkl");
    let labels = v.get("valid").and_then(|t| t.get("labels")).cloned();
    edit(&mut v, &["train", "labels"], labels);
    let problems = read_mult(&v, LabelKind::EmotionBinary).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].code, "fusec::data::pickle::rows");
    assert_eq!(problems[0].found, "audio 24, labels 8, text 24, vision 24");
}

#[test]
fn lmf_emotions_with_different_features_are_refused() {
    let mut v = value("iemocap_lmf.pkl");
    let other = v
        .get("happy")
        .and_then(|e| e.get("valid"))
        .and_then(|s| s.get("facet"))
        .cloned();
    edit(
        &mut v,
        &["sad", "valid", "facet"],
        other.map(|f| match f {
            Value::NdArray(mut a) => {
                let mut data = a.data.to_vec();
                data[0] ^= 1;
                a.data = Arc::new(data);
                Value::NdArray(a)
            }
            other => other,
        }),
    );
    let problems = read_lmf(&v).unwrap_err();
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].code, "fusec::data::pickle::lmf_features_differ");
    assert_eq!(problems[0].path_text(), "'sad'/b'valid'/b'facet'");
    assert_eq!(
        problems[0].expected,
        "the same array as 'neutral'/b'valid'/b'facet'"
    );
}

/// LMF label arrays whose buffer is shorter than their shape cannot be read as numbers.
#[test]
fn lmf_labels_that_do_not_decode_are_a_dtype_problem() {
    let mut v = value("iemocap_lmf.pkl");
    let label = v
        .get("happy")
        .and_then(|e| e.get("train"))
        .and_then(|s| s.get("label"))
        .cloned();
    let cut = label.map(|l| match l {
        Value::NdArray(mut a) => {
            a.data = Arc::new(a.data[..a.data.len() / 2].to_vec());
            Value::NdArray(a)
        }
        other => other,
    });
    edit(&mut v, &["happy", "train", "label"], cut);
    let problems = read_lmf(&v).unwrap_err();
    let codes: Vec<&str> = problems.iter().map(|p| p.code).collect();
    assert_eq!(codes, ["fusec::data::pickle::dtype"]);
}

#[test]
fn a_truncated_pickle_is_an_error_naming_the_file() {
    let data = bytes("iemocap_data.pkl");
    let e = read_pickle(&data[..5000]).unwrap_err();
    assert_eq!(e.kind, PickleErrorKind::Truncated);
    let d = e.to_diagnostic("iemocap_data.pkl");
    assert_eq!(d.code, "fusec::data::pickle::truncated");
    insta::assert_snapshot!(
        "pickle_truncated",
        render(&d.into(), &SourceMap::default(), false)
    );
    // Cut right before STOP: every value is complete but the pickle never ends.
    let e = read_pickle(&data[..data.len() - 1]).unwrap_err();
    assert_eq!(e.kind, PickleErrorKind::Truncated);
}

#[test]
fn globals_outside_the_allow_list_are_refused_by_name_and_never_run() {
    // Protocol 2: os.system('touch ...') through GLOBAL + REDUCE; the marker file must not appear.
    let marker = std::env::temp_dir().join("fusec_pickle_must_not_exist");
    let _ = std::fs::remove_file(&marker);
    let command = format!("touch {}", marker.display());
    let mut evil = b"\x80\x02cos\nsystem\nq\x00X".to_vec();
    evil.extend((command.len() as u32).to_le_bytes());
    evil.extend(command.as_bytes());
    evil.extend(b"\x85R.");
    let e = read_pickle(&evil).unwrap_err();
    assert_eq!(e.kind, PickleErrorKind::Refused);
    assert!(e.message.contains("`os.system`"), "{}", e.message);
    assert!(!marker.exists());
    insta::assert_snapshot!(
        "pickle_refused",
        render(
            &e.to_diagnostic("evil.pkl").into(),
            &SourceMap::default(),
            false
        )
    );
    // Protocol 4: builtins.eval through STACK_GLOBAL.
    let evil4 = b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00\x8c\x08builtins\x8c\x04eval\x93\x8c\x041+1\x85R.";
    let e = read_pickle(evil4).unwrap_err();
    assert!(e.message.contains("`builtins.eval`"), "{}", e.message);
    // A numpy global that is not an array constructor is refused as well.
    let e = read_pickle(b"\x80\x02cnumpy\nload\n.").unwrap_err();
    assert!(e.message.contains("`numpy.load`"), "{}", e.message);
}

#[test]
fn malformed_opcode_streams_are_errors() {
    let cases: [(&[u8], PickleErrorKind); 6] = [
        (b"\x80\x02s.", PickleErrorKind::Malformed), // SETITEM on an empty stack
        (b"\x80\x02(t1.", PickleErrorKind::Malformed), // POP_MARK without a mark
        (b"\x80\x02h\x05.", PickleErrorKind::Malformed), // memo read before write
        (b"\x80\x02\xff", PickleErrorKind::BadOpcode),
        (b"\x80\x02]q\x00h\x00a.", PickleErrorKind::Malformed), // a list that holds itself
        (b"\x80\x02B\xff\xff\xff\x7f", PickleErrorKind::Truncated), // a length past the end
    ];
    for (data, kind) in cases {
        let e = read_pickle(data).unwrap_err();
        assert_eq!(e.kind, kind, "{data:?}: {e}");
    }
}

#[test]
fn load_release_detects_layout_and_label_kind() {
    let r = load_release(&bytes("mosi_data.pkl"), "mosi_data.pkl", None, None).unwrap();
    assert_eq!(f32s(&r, "test", "labels").0, &[8]);
    let r = load_release(&bytes("iemocap_data.pkl"), "iemocap_data.pkl", None, None).unwrap();
    assert_eq!(i64s(&r, "test", "labels").0, &[8, 4]);
    let r = load_release(&bytes("iemocap_lmf.pkl"), "iemocap.pkl", None, None).unwrap();
    assert_eq!(r.layout, "lmf");
    // Forcing the emotion kind on MOSI reports every split's labels.
    let forced = Some(LabelKind::EmotionBinary);
    let e = load_release(&bytes("mosi_data.pkl"), "mosi_data.pkl", forced, None).unwrap_err();
    assert_eq!(e.0.len(), 3);
    // Not a release: the diagnostic names the file and its top-level keys, at the given span.
    let text = "data d { source = mult_pickle(\"misc.pkl\") }\n";
    let mut map = SourceMap::default();
    let file = map.add("data.fuse", text, false);
    let span = Span::new(file, 18, 40);
    let e = load_release(
        &bytes("extra/misc_np2_p4.pkl"),
        "misc.pkl",
        None,
        Some(span),
    )
    .unwrap_err();
    insta::assert_snapshot!("pickle_not_a_release", render(&e, &map, false));
    let e = load_release(b"\x80\x04K", "cut.pkl", None, Some(span)).unwrap_err();
    assert_eq!(e.0[0].code, "fusec::data::pickle::truncated");
    assert_eq!(e.0[0].labels.len(), 1);
}

#[test]
fn shared_references_and_deep_nesting_are_bounded() {
    // Each list holds the previous one twice: 40 levels expand to 2^40 values from a few hundred bytes.
    let mut bomb = b"\x80\x02]q\x00".to_vec();
    for i in 1..=40u8 {
        bomb.extend([b']', b'(', b'h', i - 1, b'h', i - 1, b'e', b'q', i]);
    }
    bomb.push(b'.');
    let e = read_pickle(&bomb).unwrap_err();
    assert!(e.message.contains("too many values"), "{e}");
    // One 1 MB bytes object referenced 100,000 times would copy 100 GB.
    let mut many = b"\x80\x04B\x00\x00\x10\x00".to_vec();
    many.extend(std::iter::repeat_n(0u8, 1 << 20));
    many.extend(b"\x94](");
    many.extend(std::iter::repeat_n([b'h', 0], 100_000).flatten());
    many.extend(b"e.");
    let e = read_pickle(&many).unwrap_err();
    assert!(e.message.contains("too many values"), "{e}");
    // Ten thousand nested lists are refused before any recursion gets deep.
    let mut deep = b"\x80\x02".to_vec();
    deep.extend(std::iter::repeat_n(b']', 10_000));
    deep.extend(std::iter::repeat_n(b'a', 9_999));
    deep.push(b'.');
    let e = read_pickle(&deep).unwrap_err();
    assert!(e.message.contains("nested deeper"), "{e}");
}

/// A small deterministic generator (64-bit LCG) for the fuzz variants.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n.max(1)
    }
}

/// Reading, layout detection, both readers and the inspect summary on one variant must not panic.
fn exercise(data: &[u8]) -> bool {
    let Ok(v) = read_pickle(data) else {
        return false;
    };
    let _ = detect_layout(&v);
    let _ = read_mult(&v, LabelKind::EmotionBinary);
    let _ = read_mult(&v, LabelKind::Sentiment);
    let _ = read_lmf(&v);
    let _ = inspect_bytes("variant.pkl", data);
    true
}

/// One to three byte flips or random bytes, or a chunk of the file copied over another place (which makes
/// opcode sequences no pickler writes).
fn mutate(data: &[u8], rng: &mut Lcg) -> Vec<u8> {
    let mut out = data.to_vec();
    if rng.below(4) == 0 {
        let (from, to) = (rng.below(out.len()), rng.below(out.len()));
        let len = (1 + rng.below(16))
            .min(out.len() - from)
            .min(out.len() - to);
        let chunk = out[from..from + len].to_vec();
        out[to..to + len].copy_from_slice(&chunk);
        return out;
    }
    for _ in 0..1 + rng.below(3) {
        let i = rng.below(out.len());
        out[i] = if rng.below(2) == 0 {
            out[i] ^ (1 << rng.below(8))
        } else {
            rng.below(256) as u8
        };
    }
    out
}

#[test]
fn truncated_and_corrupted_pickles_never_panic() {
    let small = [
        "extra/mult_np2_p2.pkl",
        "extra/mult_np2_p5.pkl",
        "extra/mosi_np1_p4.pkl",
        "extra/lmf_np1_p2.pkl",
        "extra/misc_np2_p2.pkl",
        "extra/misc_np2_p4.pkl",
        "extra/misc_np2_p0.pkl",
        "extra/py2_style.pkl",
    ];
    // FUSEC_FUZZ_ROUNDS multiplies the mutations per file for a longer hunt (default 1).
    let rounds: usize = std::env::var("FUSEC_FUZZ_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(1);
    let mut rng = Lcg(2024 + rounds as u64);
    let (mut n_variants, mut n_ok) = (0, 0);
    for name in small {
        let data = bytes(name);
        for cut in 0..data.len() {
            n_ok += usize::from(exercise(&data[..cut]));
            n_variants += 1;
        }
        for _ in 0..400 * rounds {
            n_ok += usize::from(exercise(&mutate(&data, &mut rng)));
            n_variants += 1;
        }
    }
    // The large samples: truncations anywhere, and flips in the structure before the first big buffer.
    for name in ["iemocap_data.pkl", "mosi_data.pkl", "iemocap_lmf.pkl"] {
        let data = bytes(name);
        for _ in 0..60 {
            let _ = read_pickle(&data[..rng.below(data.len())]);
            let mut flipped = data.clone();
            let i = rng.below(400);
            flipped[i] ^= 1 << rng.below(8);
            let _ = read_pickle(&flipped);
            n_variants += 2;
        }
    }
    assert!(n_variants >= 2000, "{n_variants} variants");
    assert!(n_ok > 0, "some corruptions (in array data) still read");
}

#[test]
fn inspect_the_three_samples() {
    for name in ["iemocap_data.pkl", "mosi_data.pkl", "iemocap_lmf.pkl"] {
        let out = inspect_file(&path(name)).unwrap();
        insta::assert_snapshot!(format!("inspect_{name}"), out);
    }
    let out = inspect_file(&path("extra/lmf_np1_p2.pkl")).unwrap();
    insta::assert_snapshot!("inspect_lmf_np1_p2", out);
}

#[test]
fn inspect_npy_csv_and_unknown_files() {
    let npy = fusec::data::npy::write_npy(&[1.0, f64::NAN, 3.0, 4.0], &[2, 2], false);
    let out = inspect_bytes("x.npy", &npy).unwrap();
    assert!(out.contains("<f8 [2, 2], 1 NaN, 0 inf"), "{out}");
    let mut npz = std::io::Cursor::new(Vec::new());
    {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(&mut npz);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("x.npy", options).unwrap();
        zip.write_all(&npy).unwrap();
        zip.start_file("y.npy", options).unwrap();
        zip.write_all(&fusec::data::npy::write_npy(&[1.0, 2.0, 3.0], &[3], true))
            .unwrap();
        zip.finish().unwrap();
    }
    let out = inspect_bytes("xy.npz", npz.get_ref()).unwrap();
    insta::assert_snapshot!("inspect_npz", out);
    let st = safetensors::serialize(
        [(
            "w",
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, vec![2], &[0u8; 8])
                .unwrap(),
        )],
        None,
    )
    .unwrap();
    let out = inspect_bytes("m.safetensors", &st).unwrap();
    assert!(out.contains("1 tensor\n  w: F32 [2]"), "{out}");
    let out = inspect_bytes("t.csv", b"a,b,\"c,d\"\n1,2,3\n4,5,6\n7,8\n").unwrap();
    insta::assert_snapshot!("inspect_csv", out);
    let e = inspect_bytes("notes.txt", b"hello").unwrap_err();
    assert_eq!(e.0[0].code, "fusec::data::inspect::format");
    let e = inspect_bytes("broken.pkl", b"\x80\x04\x95").unwrap_err();
    assert_eq!(e.0[0].code, "fusec::data::pickle::truncated");
}

/// A real release file, when the user has one: `FUSEC_REAL_PICKLE=/path/iemocap_data.pkl cargo test --test it
/// pickle::real_release`. It is read as the detected layout and summarized; without the variable there is
/// nothing to read (the release cannot be downloaded here).
#[test]
fn real_release_file_when_given() {
    let Ok(file) = std::env::var("FUSEC_REAL_PICKLE") else {
        return;
    };
    let start = std::time::Instant::now();
    let v = read_pickle(&std::fs::read(&file).unwrap()).unwrap();
    let read_s = start.elapsed().as_secs_f64();
    let layout = detect_layout(&v).expect("a MulT or LMF layout");
    let r = if layout == "lmf" {
        read_lmf(&v).unwrap()
    } else {
        let sentiment = matches!(v.get("train").and_then(|t| t.get("labels")), Some(Value::NdArray(a)) if a.shape[1..] != [4, 2]);
        let kind = if sentiment {
            LabelKind::Sentiment
        } else {
            LabelKind::EmotionBinary
        };
        read_mult(&v, kind).unwrap()
    };
    for split in ["train", "valid", "test"] {
        assert!(r.splits[split].n_examples() > 0, "{split} is empty");
    }
    eprintln!(
        "{file}: unpickled in {read_s:.2}s, read in {:.2}s",
        start.elapsed().as_secs_f64()
    );
    eprintln!("{}", inspect_file(std::path::Path::new(&file)).unwrap());
}
