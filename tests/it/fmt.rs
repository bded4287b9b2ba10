//! `fusec fmt`: the layout keeps the program (the formatted text parses to the same AST, spans aside) and every
//! comment, and is idempotent — over every example, the stdlib, the parseable corpus files and thousands of
//! mutated variants; snapshots show the layout itself; the binary rewrites files and `--check` reports.

use std::path::{Path, PathBuf};

use fusec::rng::SeededRng;
use fusec::source::SourceMap;
use fusec::syntax::format::{comment_texts, format};
use fusec::syntax::{dump::dump, parse};

use super::support::{fusec, temp_dir};

/// The AST dump without spans (`@12..40`), which move when the layout changes.
fn ast_without_spans(text: &str) -> Option<String> {
    let mut sources = SourceMap::default();
    let file = sources.add("main.fuse", text.to_string(), false);
    let ast = parse(file, text).ok()?;
    let d = dump(&ast);
    let mut out = String::with_capacity(d.len());
    let mut rest = d.as_str();
    while let Some(at) = rest.find('@') {
        out.push_str(&rest[..at]);
        let tail = &rest[at + 1..];
        let skip = tail
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(tail.len());
        rest = &tail[skip..];
    }
    out.push_str(rest);
    Some(out)
}

fn fmt(text: &str) -> String {
    let mut sources = SourceMap::default();
    let file = sources.add("main.fuse", text.to_string(), false);
    match format(file, text) {
        Ok(t) => t,
        Err(d) => panic!("{}", fusec::diag::render(&d, &sources, false)),
    }
}

/// The three properties, or what broke.
fn check_layout(name: &str, text: &str) -> Result<(), String> {
    let Some(before) = ast_without_spans(text) else {
        return Ok(());
    };
    let once = fmt(text);
    let after = ast_without_spans(&once)
        .ok_or_else(|| format!("{name}: the formatted text does not parse:\n{once}"))?;
    if before != after {
        return Err(format!(
            "{name}: the AST changed\n--- before\n{before}\n--- after\n{after}\n--- text\n{once}"
        ));
    }
    if comment_texts(text) != comment_texts(&once) {
        return Err(format!(
            "{name}: comments changed\n--- input\n{text}\n--- output\n{once}"
        ));
    }
    let twice = fmt(&once);
    if twice != once {
        return Err(format!(
            "{name}: not idempotent\n--- once\n{once}\n--- twice\n{twice}"
        ));
    }
    Ok(())
}

fn fuse_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(fuse_files(&p));
        } else if p.extension().is_some_and(|x| x == "fuse") {
            out.push(p);
        }
    }
    out.sort();
    out
}

#[test]
fn every_example_stdlib_and_corpus_file_keeps_its_ast_and_comments_and_is_idempotent() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut failures = Vec::new();
    let mut n = 0;
    for dir in ["examples", "stdlib", "tests/invalid", "tests/hostile"] {
        for path in fuse_files(&root.join(dir)) {
            let text = std::fs::read_to_string(&path).unwrap();
            n += ast_without_spans(&text).is_some() as usize;
            if let Err(e) = check_layout(&path.display().to_string(), &text) {
                failures.push(e);
            }
        }
    }
    assert!(n >= 100, "only {n} files parse");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn mutated_variants_keep_their_ast_and_comments_and_are_idempotent() {
    let seeds = super::fuzz::seeds();
    let mut rng = SeededRng::new(11);
    let (mut parsed, mut failures) = (0, Vec::new());
    for (i, seed) in seeds.iter().enumerate() {
        for v in 0..150 {
            let text = super::fuzz::mutate(&mut rng, seed);
            if ast_without_spans(&text).is_none() {
                continue;
            }
            parsed += 1;
            if let Err(e) = check_layout(&format!("seed {i} variant {v}"), &text) {
                failures.push(e);
            }
        }
    }
    assert!(parsed >= 300, "only {parsed} variants parse");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_canonical_layout() {
    let messy = r#"// a file written by hand
import std.fusion.{AutoFusion,Concat}
import std.encoders.{Mlp}
block   Tiny( x :f32[ B,D ], sizes:[int], act:string="relu" , dropout: float = 0.0, extra_long_parameter_name: int = 1)->f32[B,sizes[-1]]{
  h=x   // the input
  for s in sizes{h=relu(linear(h,s))}


  // a comment of its own
  if act=="relu" {h = relu(h)} else if act == "tanh" { h = tanh(h) } else {h=h}
  assert len(sizes)>0 and not (dropout<0.0), "sizes"
  return h|>relu
}
model M{
  input a:f32[B,4]
  input label :i64[B]
  param width:int=8
  z=Tiny(a,sizes=[width,width],act="tanh",dropout=0.0,extra_long_parameter_name=2 * width + 1,)
  f = AutoFusion([z, z, z, z], dim = width)
  output logits=linear(f.z,3)
  loss task=cross_entropy(logits,label)+0.5*f.recon
  xs = [ -w for w in [1, 2, 3] ]
  r = 0..4
}
data d { path="../data"
  field a: f32[4] = csv("a.csv", columns = 0..4)   // four columns
  field label: i64[] = csv("a.csv", column = 4, classes = 3)
  split = stratified(label, train = 0.6, valid = 0.2, test = 0.2, seed = 0) }
train{model=M data=d
  optimizer main = adam(lr = 1e-3, betas = [0.9, 0.999])
  step main minimize task using main
  robustness = [drop(a, "zero"), drop(a, "mean"), noise(a, [0.1, 0.5, 1.0]), noise(a, [2.0, 4.0, 8.0])]
}
// the end
"#;
    let once = fmt(messy);
    insta::assert_snapshot!(once);
    assert_eq!(fmt(&once), once);
    assert_eq!(ast_without_spans(messy), ast_without_spans(&once));
}

#[test]
fn comments_stay_next_to_what_they_annotate() {
    let text = "model M {
  input x: f32[B, 4]
  output y = linear(
    x,  // the input
    // the width
    8,
  )
  loss l = mse(y, 0.0)  // end of line
}
";
    let once = fmt(text);
    insta::assert_snapshot!(once);
    assert_eq!(fmt(&once), once);
}

#[test]
fn fmt_rewrites_files_and_check_reports_the_first_line_that_would_change() {
    let dir = temp_dir("fmt", "cli");
    let messy = dir.join("messy.fuse");
    std::fs::write(
        &messy,
        "model M {\n    input x: f32[B, 4]\n  output y = relu(x)\n}\n",
    )
    .unwrap();
    let messy = messy.to_str().unwrap();
    let (code, _, err) = fusec(&["fmt", "--check", messy]);
    assert_eq!(code, 1, "{err}");
    let err = err.replace(messy, "messy.fuse");
    insta::assert_snapshot!("fmt_check", err);
    let (code, out, _) = fusec(&["fmt", messy]);
    assert_eq!(code, 0);
    assert!(out.contains("formatted"), "{out}");
    let (code, out, err) = fusec(&["fmt", "--check", messy]);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
    assert_eq!(
        std::fs::read_to_string(messy).unwrap(),
        "model M {\n  input x: f32[B, 4]\n  output y = relu(x)\n}\n"
    );
}

#[test]
fn a_file_that_does_not_parse_gets_the_parsers_diagnostic_and_is_left_alone() {
    let dir = temp_dir("fmt", "broken");
    let broken = dir.join("broken.fuse");
    let text = "model M {\n  input x: f32[B, 4]\n  output y = relu(x\n}\n";
    std::fs::write(&broken, text).unwrap();
    let path = broken.to_str().unwrap();
    let (code, _, err) = fusec(&["fmt", path]);
    assert_eq!(code, 1);
    assert!(err.contains("fusec::syntax::unexpected"), "{err}");
    assert!(
        err.contains("broken.fuse:4:1"),
        "the diagnostic is located: {err}"
    );
    assert_eq!(std::fs::read_to_string(&broken).unwrap(), text);
}

#[test]
fn the_style_section_of_the_language_reference_is_fmt_output() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/LANGUAGE.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let style = &doc[doc.find("## Style").expect("a Style section")..];
    let start = style.find("```fuse\n").unwrap() + "```fuse\n".len();
    let example = &style[start..start + style[start..].find("```").unwrap()];
    assert_eq!(
        fmt(example),
        example,
        "docs/LANGUAGE.md's Style example is not fmt's output"
    );
    assert!(check_layout("LANGUAGE.md", example).is_ok());
}

/// editors/vscode highlights every keyword of grammar/fuse.pest, and its manifest points at its grammar.
#[test]
fn the_vscode_grammar_knows_every_keyword() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap();
    let manifest: serde_json::Value =
        serde_json::from_str(&read("editors/vscode/package.json")).unwrap();
    let path = manifest["contributes"]["grammars"][0]["path"]
        .as_str()
        .unwrap();
    let grammar: serde_json::Value =
        serde_json::from_str(&read(&format!("editors/vscode/{path}"))).unwrap();
    assert_eq!(grammar["scopeName"], "source.fuse");
    let repo = &grammar["repository"];
    let mut words = String::new();
    for p in repo["keyword"]["patterns"].as_array().unwrap() {
        words.push_str(p["match"].as_str().unwrap());
    }
    words.push_str(repo["constant"]["match"].as_str().unwrap());
    let alternatives: Vec<&str> = words
        .split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .collect();
    let pest = read("grammar/fuse.pest");
    let keywords: Vec<&str> = pest
        .lines()
        .filter(|l| l.starts_with("kw_"))
        .filter_map(|l| l.split('"').nth(1))
        .collect();
    assert!(keywords.len() >= 25, "{keywords:?}");
    for k in keywords {
        assert!(
            alternatives.contains(&k),
            "editors/vscode does not highlight `{k}`"
        );
    }
}
