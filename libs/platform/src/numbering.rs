//! Document numbers (文号, LAW.md §6, R-DOC-2): organ code + year in 〔〕 +
//! sequence + 号, no 第 and no leading zeros (GB/T 9704-2012 §7.2.5), e.g.
//! `兰城市监约〔2026〕17号`. Sequences are per organ, document kind and year,
//! unique and without gaps: [`next_sequence`] hands them out from the
//! service's own `document_counters` table (intake and scheduling both number
//! documents).

use sqlx::PgConnection;

use crate::Error;

/// A malformed document number or code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidId(pub String);

impl InvalidId {
    /// The error for a request field, e.g. `document_code`.
    pub fn at(self, field: &str) -> Error {
        Error::invalid(field, self.0)
    }
}

/// A formatted document number.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DocumentNumber {
    /// 机关代字 plus the kind's character, e.g. `兰城市监约`.
    pub organ_code: String,
    pub year: i32,
    pub sequence: u32,
}

impl DocumentNumber {
    pub fn new(organ_code: &str, year: i32, sequence: u32) -> Result<DocumentNumber, InvalidId> {
        let organ_code = organ_code.trim();
        if organ_code.is_empty() {
            return Err(InvalidId("the organ code of a document number is empty".into()));
        }
        if organ_code.chars().any(|c| c.is_ascii_digit() || "〔〕[]第号".contains(c)) {
            return Err(InvalidId(format!("{organ_code:?} may not contain digits, brackets, 第 or 号")));
        }
        if !(2000..=9999).contains(&year) {
            return Err(InvalidId(format!("year {year} is out of range")));
        }
        if sequence == 0 {
            return Err(InvalidId("sequences start at 1".into()));
        }
        Ok(DocumentNumber { organ_code: organ_code.to_string(), year, sequence })
    }

    /// Reads `兰城市监约〔2026〕17号` back.
    pub fn parse(value: &str) -> Result<DocumentNumber, InvalidId> {
        let bad = || InvalidId(format!("{value:?} is not a document number like 兰城市监约〔2026〕17号"));
        let (organ_code, rest) = value.split_once('〔').ok_or_else(bad)?;
        let (year, rest) = rest.split_once('〕').ok_or_else(bad)?;
        let sequence = rest.strip_suffix('号').ok_or_else(bad)?;
        // Only the printed form: digits alone (no sign, no spaces), no
        // leading zero, and no spaces around the organ code.
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if sequence.starts_with('0') || year.len() != 4 || !digits(year) || !digits(sequence) || organ_code.trim() != organ_code {
            return Err(bad());
        }
        let year = year.parse().map_err(|_| bad())?;
        let sequence = sequence.parse().map_err(|_| bad())?;
        DocumentNumber::new(organ_code, year, sequence)
    }
}

impl std::fmt::Display for DocumentNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}〔{}〕{}号", self.organ_code, self.year, self.sequence)
    }
}

/// The next sequence number for `(organ, kind, year)`, taken inside the
/// caller's transaction (R-DOC-2): unique under concurrency (the counter
/// row's lock makes issuers take turns), and given back if the transaction
/// rolls back, so committed numbers have no gaps. The service's schema has
/// the `document_counters (organ, kind, year, last)` table.
pub async fn next_sequence(conn: &mut PgConnection, organ: &str, kind: &str, year: i32) -> Result<u32, Error> {
    let last: i32 = sqlx::query_scalar(
        "INSERT INTO document_counters (organ, kind, year, last) VALUES ($1, $2, $3, 1)
         ON CONFLICT (organ, kind, year) DO UPDATE SET last = document_counters.last + 1
         RETURNING last",
    )
    .bind(organ)
    .bind(kind)
    .bind(year)
    .fetch_one(&mut *conn)
    .await?;
    u32::try_from(last).map_err(|_| Error::Internal(format!("document counter {organ}/{kind}/{year} is {last}")))
}

/// The next number `<code>〔year〕n号` of `kind` (R-DOC-2), in the caller's
/// transaction, as text.
pub async fn next_number(conn: &mut PgConnection, code: &str, kind: &str, year: i32) -> Result<String, Error> {
    let sequence = next_sequence(conn, code, kind, year).await?;
    Ok(DocumentNumber::new(code, year, sequence).map_err(|e| Error::Internal(e.0))?.to_string())
}

/// The next number of an organ's document: its document code (e.g. 兰城市监)
/// and the kind's suffix (约通, 整改…). An organ without a document code
/// cannot number: FAILED_PRECONDITION naming who sets it.
pub async fn organ_number(conn: &mut PgConnection, document_code: &str, organ: &str, suffix: &str, kind: &str, year: i32) -> Result<String, Error> {
    if document_code.is_empty() {
        return Err(Error::FailedPrecondition(format!("organ {organ} has no document code; an administrator sets it in intake (PutOrgan)")));
    }
    next_number(conn, &format!("{document_code}{suffix}"), kind, year).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn r_doc_2_document_numbers_follow_gb_t_9704() {
        let number = DocumentNumber::new("兰城市监约", 2026, 17).unwrap();
        assert_eq!(number.to_string(), "兰城市监约〔2026〕17号");
        assert_eq!(DocumentNumber::parse("兰城市监约〔2026〕17号").unwrap(), number);
    }

    #[test]
    fn r_doc_2_leading_zeros_第_and_bad_shapes_are_refused() {
        assert!(DocumentNumber::parse("兰城市监约〔2026〕017号").is_err());
        assert!(DocumentNumber::parse("兰城市监约〔2026〕第17号").is_err());
        assert!(DocumentNumber::parse("兰城市监约[2026]17号").is_err());
        assert!(DocumentNumber::parse("〔2026〕17号").is_err());
        assert!(DocumentNumber::new("兰城市监约", 2026, 0).is_err());
    }
}
