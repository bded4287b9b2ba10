//! Unit tests of `src/data/detok.rs`: each rule, on the tokens `tokenize(.., Punct::Split)` makes.

use super::*;
use crate::data::text::tokenize;
use crate::ir::Punct;

/// Tokenizes `line` as `punct = "split"` does and detokenizes it with `lang`.
fn round_trip(line: &str, lang: Lang) -> String {
    detokenize(&tokenize(line, false, Punct::Split), lang)
}

#[test]
fn english_clitics_quotes_and_numbers() {
    for line in [
        "I’ll be there at 5:30, won’t I?",
        "She said “don't go” and left.",
        "It's 3.5 km (about 2 miles) from the U.S. border; 1,000 people live there.",
        "twelve o’clock",
        "the dogs’ bowls are empty",
        "‘Hello,’ he said.",
        "a \"quoted\" word and upside-down face",
        "wait... what?!",
        "and/or",
    ] {
        assert_eq!(round_trip(line, Lang::English), line);
    }
}

#[test]
fn german_quotes_gender_suffixes_and_truncation() {
    for line in [
        "wort „cool“ in blauem quadrat",
        "schriftzug „up!“ im blauen quadrat",
        "familie: 1 erwachsene(r), 1 kind",
        "fußgänger(in): nach rechts",
        "herz (organ)",
        "ausrufe- und fragezeichen",
        "feuerwehrmann/-frau",
        "on!-pfeil",
        "ziffernblatt 12:00 uhr",
        "Wie geht’s dir?",
        "20.000 km und 1,5 Liter",
    ] {
        assert_eq!(round_trip(line, Lang::German), line);
    }
    // Without the German rules the gender suffix is read as a bracketed word.
    assert_eq!(round_trip("lehrer(in)", Lang::Any), "lehrer (in)");
}

#[test]
fn portuguese_elision_and_quotes() {
    for line in [
        "pistola d’água",
        "seta \"on!\"",
        "pessoa fazendo gesto de “não”",
        "deu-me o livro, mas não o li.",
        "custa 3,50 euros",
    ] {
        assert_eq!(round_trip(line, Lang::Portuguese), line);
    }
}

#[test]
fn model_output_that_no_text_produced() {
    // A decoder can emit any token sequence: unbalanced quotes and stray marks still give text.
    let toks = ["”", "<unk>", "’", "-", "(", "“", "."];
    assert_eq!(detokenize(&toks, Lang::English), "” <unk>’ - (“.");
    assert_eq!(detokenize::<&str>(&[], Lang::German), "");
}
