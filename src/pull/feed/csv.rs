//! CSV feeds (docs/design.md#misp-feeds): the `--delimiter` flag and the
//! candidate values of the chosen columns.

use crate::error::{Error, Result};

/// Parses `--delimiter`: one byte, or `\t` / `tab`.
pub fn parse_delimiter(s: &str) -> Result<u8> {
    match s {
        "\\t" | "tab" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 => Ok(s.as_bytes()[0]),
        _ => Err(Error::usage(format!(
            "--delimiter {s:?}: expected one character (or \\t)"
        ))),
    }
}

/// The candidate values of a CSV feed: the given 1-based columns (all when
/// empty) of every row that does not start with `#`, trimmed of blanks and quotes.
pub fn csv_cells(
    text: &str,
    columns: &[usize],
    delimiter: u8,
    location: &str,
) -> Result<Vec<String>> {
    let mut rdr = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let mut cells = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| Error::input(format!("{location}:{}", i + 1), e.to_string()))?;
        if rec.get(0).is_some_and(|c| c.trim_start().starts_with('#')) {
            continue;
        }
        let pick: Vec<usize> = if columns.is_empty() {
            (1..=rec.len()).collect()
        } else {
            columns.to_vec()
        };
        for c in pick {
            if let Some(cell) = c.checked_sub(1).and_then(|c| rec.get(c)) {
                let cell = cell.trim_matches(|ch: char| {
                    matches!(ch, ' ' | '\t' | '\n' | '\r' | '\0' | '"' | '\'')
                });
                if !cell.is_empty() {
                    cells.push(cell.to_string());
                }
            }
        }
    }
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters() {
        assert_eq!(parse_delimiter("\\t").unwrap(), b'\t');
        assert_eq!(parse_delimiter(";").unwrap(), b';');
        assert!(parse_delimiter("ab").is_err());
    }
}
