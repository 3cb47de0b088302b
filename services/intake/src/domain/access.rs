//! Who may see and change what (ARCHITECTURE §5): pure checks of an
//! officer's jurisdiction against a row's division, used by the API before a
//! call and by `flow` on the rows it reads under lock.

use yuetan_platform::auth::DivisionCode;
use yuetan_platform::{Actor, Error};

/// Parties are one register per province (the repeat check spans the
/// province): any officer of the same province may read one.
pub fn require_same_province(actor: &Actor, division: &str) -> Result<(), Error> {
    if same_province(actor, division) {
        return Ok(());
    }
    Err(Error::PermissionDenied("the party is registered in another province".into()))
}

/// Whether `division` lies in the officer's province.
pub fn same_province(actor: &Actor, division: &str) -> bool {
    division.get(0..2) == Some(actor.division.province())
}

/// An officer sees the cases of their division and below, and joint cases
/// their organ takes part in.
pub fn require_case_scope(actor: &Actor, division: &str, co_departments: &[String]) -> Result<(), Error> {
    let co: Vec<&str> = co_departments.iter().map(String::as_str).collect();
    actor.require_scope(&DivisionCode::parse(division)?, &co)
}
