//! `yuetan calendar …`: working-day arithmetic for operators and scripts.
//! Output is one line, stable: `2026-02-24`, or `2027-01-05 provisional` when
//! a year without published holiday data was involved (LAW.md §1).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{anyhow, Context};
use chrono::NaiveDate;
use yuetan_calendar::{Answer, Calendar};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// The date N working days after DATE (counting starts the day after).
    AddWorkingDays { date: String, #[arg(allow_hyphen_values = true)] days: String, #[command(flatten)] data: Data },
    /// `true` or `false`.
    IsWorkingDay { date: String, #[command(flatten)] data: Data },
    /// Working days in (FROM, TO].
    WorkingDaysBetween { from: String, to: String, #[command(flatten)] data: Data },
    /// A calendar-day period: DATE + N days, moved to the next working day if that is a day off.
    CalendarDayDeadline { date: String, #[arg(allow_hyphen_values = true)] days: String, #[command(flatten)] data: Data },
}

#[derive(Debug, clap::Args)]
pub struct Data {
    /// Holiday data file (default: the data built into this release).
    #[arg(long)]
    data: Option<PathBuf>,
}

impl Data {
    fn calendar(&self) -> anyhow::Result<Calendar> {
        match &self.data {
            Some(path) => Calendar::load(path).with_context(|| format!("loading {}", path.display())),
            None => Ok(Calendar::builtin()),
        }
    }
}

pub fn run(command: Command) -> anyhow::Result<ExitCode> {
    let line = match command {
        Command::AddWorkingDays { date, days, data } => {
            let calendar = data.calendar()?;
            show(calendar.add_working_days(parse_date(&date)?, parse_count(&days)?)?, |d| d.to_string())
        }
        Command::IsWorkingDay { date, data } => {
            let calendar = data.calendar()?;
            show(calendar.is_working_day(parse_date(&date)?)?, |b| b.to_string())
        }
        Command::WorkingDaysBetween { from, to, data } => {
            let calendar = data.calendar()?;
            show(calendar.working_days_between(parse_date(&from)?, parse_date(&to)?)?, |n| n.to_string())
        }
        Command::CalendarDayDeadline { date, days, data } => {
            let calendar = data.calendar()?;
            show(calendar.calendar_day_deadline(parse_date(&date)?, parse_count(&days)?)?, |d| d.to_string())
        }
    };
    println!("{line}");
    Ok(ExitCode::SUCCESS)
}

fn show<T>(answer: Answer<T>, format: impl Fn(&T) -> String) -> String {
    if answer.provisional {
        format!("{} provisional", format(&answer.value))
    } else {
        format(&answer.value)
    }
}

fn parse_date(value: &str) -> anyhow::Result<NaiveDate> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| anyhow!("invalid date {value:?}: expected YYYY-MM-DD"))
}

fn parse_count(value: &str) -> anyhow::Result<u32> {
    value.parse::<u32>().map_err(|_| anyhow!("invalid count {value:?}: expected a whole number of days, 0 or more"))
}
