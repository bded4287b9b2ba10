//! `data NAME { ... }` -> `ir::DataSpec`: fields with their sources, the split, and standardization.
//! `--set data.path=...` (or `data.NAME.path=...`) overrides the base folder.

use crate::diag::{Diagnostic, Diagnostics};
use crate::ir::{
    DataSpec, DimExpr, Dtype, FieldSpec, NonFinite, PickleLabels, PickleLayout, SourceKind,
    SourceSpec, SplitSpec,
};
use crate::syntax::ast::{DataDecl, FieldDecl, SectionKind};

use super::modules::Module;
use super::overrides::Overrides;
use super::statics::{self, static_call};
use super::suggest;
use super::value::Val;

const KEYS: &[&str] = &["path", "split", "standardize", "nonfinite"];

/// Parameters of each source; `classes` stays last (the field reader looks there), and every file-reading source
/// but the pickles (which hold their own splits) has `train`, `valid` and `test` one after the other.
pub(super) const SOURCES: &[(&str, &[&str])] = &[
    (
        "csv",
        &[
            "file", "columns", "column", "header", "train", "valid", "test", "classes",
        ],
    ),
    ("npy", &["file", "train", "valid", "test", "classes"]),
    ("npz", &["file", "key", "train", "valid", "test", "classes"]),
    (
        "safetensors",
        &["file", "key", "train", "valid", "test", "classes"],
    ),
    ("text", super::data_text::TEXT_PARAMS),
    ("lengths", &["of", "classes"]),
    ("mult_pickle", &["file", "key", "labels", "classes"]),
    ("lmf_pickle", &["file", "key", "labels", "classes"]),
];

const SPLITS: &[(&str, &[&str])] = &[
    ("stratified", &["by", "train", "valid", "test", "seed"]),
    ("random", &["train", "valid", "test", "seed"]),
    ("files", &["valid", "stratify", "seed"]),
    ("column", &["file", "column"]),
    ("kfold", super::data_kfold::KFOLD_PARAMS),
];

/// Lowers every data section the root file sees (its own, extended ones merged, and imported ones);
/// `folders[m]` is the folder module `m`'s relative paths start from.
pub fn lower_data(
    root: &Module,
    folders: &[String],
    ov: &mut Overrides,
    diags: &mut Diagnostics,
) -> Vec<DataSpec> {
    let decls: Vec<(DataDecl, usize)> = root
        .sections
        .iter()
        .filter(|v| v.section.kind == SectionKind::Data)
        .filter_map(|v| v.section.data())
        .collect();
    let single = decls.len() == 1;
    decls
        .iter()
        .filter_map(|(d, module)| {
            let folder = folders.get(*module).map(String::as_str).unwrap_or("");
            lower_one(d, folder, single, ov, diags)
        })
        .collect()
}

fn lower_one(
    d: &DataDecl,
    folder: &str,
    single: bool,
    ov: &mut Overrides,
    diags: &mut Diagnostics,
) -> Option<DataSpec> {
    let before = diags.iter().filter(|x| x.is_error()).count();
    let mut fields: Vec<FieldSpec> = Vec::new();
    for f in &d.fields {
        if let Some(first) = fields.iter().find(|x| x.name == f.name.name) {
            diags.push(
                Diagnostic::error(
                    "fusec::name::duplicate",
                    format!("field `{}` is declared twice", f.name.name),
                )
                .label(f.name.span, "declared again here")
                .label(first.span, "first declared here")
                .help("give each field its own name"),
            );
            continue;
        }
        if let Some(fs) = field(f, diags) {
            fields.push(fs);
        }
    }
    let names: Vec<String> = fields.iter().map(|f| f.name.clone()).collect();
    let (mut path, mut split, mut standardize) = (String::new(), None, Vec::new());
    let mut nonfinite = NonFinite::Error;
    for (i, s) in d.settings.iter().enumerate() {
        if let Some(first) = d.settings[..i].iter().find(|x| x.key.name == s.key.name) {
            diags.push(
                Diagnostic::error(
                    "fusec::data::duplicate",
                    format!("`{}` is set twice", s.key.name),
                )
                .label(s.key.span, "set again here")
                .label(first.key.span, "first set here")
                .help("set each key once"),
            );
            continue;
        }
        match s.key.name.as_str() {
            "path" => path = statics::string(&s.value, diags).unwrap_or_default(),
            "nonfinite" => match statics::string(&s.value, diags).as_deref() {
                Some("error") => nonfinite = NonFinite::Error,
                Some("zero") => nonfinite = NonFinite::Zero,
                Some(other) => diags.push(
                    Diagnostic::error(
                        "fusec::data::nonfinite",
                        format!("`nonfinite = \"{other}\"` is not a policy"),
                    )
                    .label(s.value.span, "expected \"error\" or \"zero\"")
                    .help("use `nonfinite = \"zero\"` to replace NaN and infinities with 0 (counted in the data report)"),
                ),
                None => {}
            },
            "split" => split = split_spec(&s.value, &names, diags).map(|x| (x, s.value.span)),
            "standardize" => {
                for (n, at) in statics::names(&s.value, diags).unwrap_or_default() {
                    match fields.iter().find(|f| f.name == n) {
                        Some(f) if f.dtype.is_float() => standardize.push(n),
                        Some(_) => diags.push(
                            Diagnostic::error(
                                "fusec::data::standardize",
                                format!("`{n}` is not a float field"),
                            )
                            .label(at, "cannot be standardized")
                            .help("standardize only f32/f64 fields"),
                        ),
                        None => diags.push(unknown_field(&n, at, &names)),
                    }
                }
            }
            other => {
                let e = Diagnostic::error(
                    "fusec::data::unknown_key",
                    format!("`data` has no setting `{other}`"),
                )
                .label(s.key.span, "unknown setting");
                diags.push(suggest(
                    e,
                    other,
                    &KEYS.iter().map(|k| k.to_string()).collect::<Vec<_>>(),
                    "settings",
                ));
            }
        }
    }
    let specific = format!("data.{}.path", d.name.name);
    if let Some((p, _)) = ov.take_text(&specific) {
        path = p;
    } else if single {
        if let Some((p, _)) = ov.take_text("data.path") {
            path = p;
        }
    }
    let split_span = split.as_ref().map_or(d.name.span, |(_, at)| *at);
    let mut split = super::data_split::resolve_split(&fields, split, diags);
    super::data_kfold::take_fold(&mut split, &d.name.name, single, ov, diags);
    let after = diags.iter().filter(|x| x.is_error()).count();
    (after == before).then(|| DataSpec {
        name: d.name.name.clone(),
        path,
        declared_in: folder.to_string(),
        fields,
        split,
        standardize,
        nonfinite,
        span: d.name.span,
        split_span,
    })
}

fn field(f: &FieldDecl, diags: &mut Diagnostics) -> Option<FieldSpec> {
    let dtype = match Dtype::parse(&f.ty.dtype.name) {
        Some(d) => d,
        None => {
            let e = Diagnostic::error(
                "fusec::type::dtype",
                format!("unknown dtype `{}`", f.ty.dtype.name),
            )
            .label(f.ty.dtype.span, "not a dtype");
            let all = ["f32", "f64", "i64", "u32", "bool"].map(String::from);
            diags.push(suggest(e, &f.ty.dtype.name, &all, "dtypes"));
            return None;
        }
    };
    // A name is a symbolic dim: a text field's padded length differs per batch (`field src: i64[T] = text(..)`).
    let dims =
        f.ty.dims
            .iter()
            .map(|d| match &d.kind {
                crate::syntax::ast::ExprKind::Name(n) => Some(DimExpr::Sym(n.clone())),
                _ => statics::int_at_least(d, 1, diags).map(DimExpr::Const),
            })
            .collect::<Option<Vec<_>>>()?;
    let call = static_call(
        &f.source,
        SOURCES,
        "a source: csv, npy, npz, safetensors, mult_pickle, lmf_pickle, text or lengths",
        diags,
    )?;
    let (classes, class_names) = match call.arg(call.args.len() - 1) {
        Some(e) => super::data_split::classes(e, diags)?,
        None => (None, None),
    };
    let kind = match call.name.as_str() {
        "csv" => csv_kind(&call, dims.is_empty(), diags)?,
        "npy" => SourceKind::Npy,
        "text" => super::data_text::text_kind(&call, diags)?,
        "lengths" => super::data_text::lengths_kind(&call, diags)?,
        "npz" | "safetensors" => {
            let key = match call.arg(1) {
                Some(k) => statics::string(k, diags)?,
                None => f.name.name.clone(),
            };
            if call.name == "npz" {
                SourceKind::Npz { key }
            } else {
                SourceKind::Safetensors { key }
            }
        }
        "mult_pickle" | "lmf_pickle" => pickle_kind(&call, &f.name.name, diags)?,
        _ => return None,
    };
    let files = if call.name == "lengths" {
        Vec::new()
    } else {
        super::data_split::source_files(&call, diags)?
    };
    let source = SourceSpec {
        kind,
        files,
        span: f.source.span,
    };
    Some(FieldSpec {
        name: f.name.name.clone(),
        dtype,
        dims,
        source,
        classes,
        class_names,
        span: f.name.span,
    })
}

/// `mult_pickle(file, key = NAME, labels = "emotions" | "argmax" | "sentiment")`; the key defaults to the
/// field's name.
fn pickle_kind(
    call: &statics::StaticCall,
    field: &str,
    diags: &mut Diagnostics,
) -> Option<SourceKind> {
    let key = match call.arg(1) {
        Some(k) => statics::string(k, diags)?,
        None => field.to_string(),
    };
    let labels = match call.arg(2) {
        Some(e) => {
            let s = statics::string(e, diags)?;
            let Some(l) = PickleLabels::parse(&s) else {
                diags.push(
                    Diagnostic::error("fusec::data::labels", format!("`labels = \"{s}\"` is not a label reading"))
                        .label(e.span, "expected \"emotions\", \"argmax\" or \"sentiment\"")
                        .help("IEMOCAP: \"emotions\" (one binary label per emotion) or \"argmax\" (4-way); MOSI/MOSEI: \"sentiment\""),
                );
                return None;
            };
            Some(l)
        }
        None => None,
    };
    let layout = if call.name == "lmf_pickle" {
        PickleLayout::Lmf
    } else {
        PickleLayout::Mult
    };
    Some(SourceKind::Pickle {
        layout,
        key,
        labels,
    })
}

fn csv_kind(
    call: &statics::StaticCall,
    scalar_field: bool,
    diags: &mut Diagnostics,
) -> Option<SourceKind> {
    let header = match call.arg(3) {
        Some(e) => statics::boolean(e, diags)?,
        None => true,
    };
    match (call.arg(1), call.arg(2)) {
        (Some(r), None) => {
            let (start, end) = statics::range(r, diags)?;
            Some(SourceKind::Csv {
                start: start as usize,
                end: end as usize,
                header,
                scalar: false,
            })
        }
        (None, Some(c)) => {
            // `column = 76` by index, or `column = "label"` by the header's name for it.
            let name = match statics::value(c, diags)? {
                Val::Str(name) => Some(name),
                _ => None,
            };
            if name.is_some() && !header {
                diags.push(
                    Diagnostic::error(
                        "fusec::data::columns",
                        "a column named by the header needs a header",
                    )
                    .label(c.span, "a header name")
                    .help("drop `header = false`, or give the column's index: `column = 7`"),
                );
                return None;
            }
            if let Some(column) = name {
                return Some(SourceKind::CsvNamed {
                    column,
                    scalar: scalar_field,
                });
            }
            let k = statics::int_at_least(c, 0, diags)? as usize;
            Some(SourceKind::Csv {
                start: k,
                end: k + 1,
                header,
                scalar: scalar_field,
            })
        }
        _ => {
            diags.push(
                Diagnostic::error(
                    "fusec::data::columns",
                    "`csv` needs exactly one of `columns = a..b` and `column = k`",
                )
                .label(call.span, "which columns?")
                .help("write `columns = 0..76` for a vector or `column = 76` for one value"),
            );
            None
        }
    }
}

fn split_spec(
    e: &crate::syntax::ast::Expr,
    fields: &[String],
    diags: &mut Diagnostics,
) -> Option<SplitSpec> {
    let call = static_call(
        e,
        SPLITS,
        "a split: stratified, random, files, column or kfold",
        diags,
    )?;
    if call.name == "kfold" {
        return super::data_kfold::kfold_split(&call, fields, diags);
    }
    if call.name == "files" {
        return super::data_split::files_split(&call, fields, diags);
    }
    if call.name == "column" {
        return super::data_text::column_split(&call, diags);
    }
    let off = usize::from(call.name == "stratified");
    let frac = |i: usize, default: f64, diags: &mut Diagnostics| {
        call.arg(off + i)
            .map(|x| statics::float(x, diags))
            .unwrap_or(Some(default))
    };
    let (train, valid, test) = (
        frac(0, 0.6, diags)?,
        frac(1, 0.2, diags)?,
        frac(2, 0.2, diags)?,
    );
    let seed = match call.arg(off + 3) {
        Some(s) => statics::int_at_least(s, 0, diags)? as u64,
        None => 0,
    };
    if [train, valid, test].iter().any(|f| *f < 0.0)
        || (train + valid + test - 1.0).abs() > 1e-6
        || train <= 0.0
    {
        diags.push(Diagnostic::error("fusec::data::split", format!("split fractions {train} + {valid} + {test} must be non-negative and add up to 1")).label(e.span, "bad fractions").help("for example `train = 0.6, valid = 0.2, test = 0.2`"));
        return None;
    }
    if off == 0 {
        return Some(SplitSpec::Random {
            train,
            valid,
            test,
            seed,
        });
    }
    let Some(by_expr) = call.arg(0) else {
        diags.push(
            Diagnostic::error(
                "fusec::param::missing",
                "`stratified` needs the label field to stratify by",
            )
            .label(e.span, "by which field?")
            .help("write `stratified(label, ...)`"),
        );
        return None;
    };
    let by = statics::name(by_expr, diags)?;
    if !fields.contains(&by) {
        diags.push(unknown_field(&by, by_expr.span, fields));
        return None;
    }
    Some(SplitSpec::Stratified {
        by,
        train,
        valid,
        test,
        seed,
    })
}

fn unknown_field(n: &str, at: crate::source::Span, fields: &[String]) -> Diagnostic {
    let e = Diagnostic::error(
        "fusec::data::field",
        format!("no field `{n}` in this data set"),
    )
    .label(at, "unknown field");
    suggest(e, n, fields, "fields")
}
