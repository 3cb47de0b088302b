//! The `yuetan` command as operators and scripts use it.

use std::process::{Command, Output};

fn yuetan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yuetan")).args(args).output().expect("run yuetan")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn r_time_2_calendar_add_working_days_prints_one_line() {
    let output = yuetan(&["calendar", "add-working-days", "2026-02-12", "3"]);
    assert!(output.status.success());
    assert_eq!(stdout(&output), "2026-02-24\n");
}

#[test]
fn r_time_1_calendar_is_working_day_knows_the_adjusted_saturday() {
    let output = yuetan(&["calendar", "is-working-day", "2026-02-14"]);
    assert!(output.status.success());
    assert_eq!(stdout(&output), "true\n");
    assert_eq!(stdout(&yuetan(&["calendar", "is-working-day", "2026-02-16"])), "false\n");
}

#[test]
fn r_time_1_an_answer_in_a_year_without_data_is_marked_provisional() {
    let output = yuetan(&["calendar", "add-working-days", "2026-12-30", "3"]);
    assert!(output.status.success());
    assert_eq!(stdout(&output), "2027-01-05 provisional\n");
}

#[test]
fn a_bad_date_or_count_exits_non_zero_with_a_one_line_error() {
    for args in [
        ["calendar", "add-working-days", "2026-02-30", "3"],
        ["calendar", "add-working-days", "2026-02-12", "three"],
        ["calendar", "add-working-days", "2026-02-12", "-1"],
        ["calendar", "is-working-day", "12/02/2026", ""],
    ] {
        let args: Vec<&str> = args.iter().copied().filter(|a| !a.is_empty()).collect();
        let output = yuetan(&args);
        assert!(!output.status.success(), "{args:?} should fail");
        assert!(stdout(&output).is_empty(), "{args:?} printed a result");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
    }
}

#[test]
fn the_demo_runs_events_through_outbox_jetstream_and_consumer() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (database_url, nats_url) = runtime.block_on(async {
        let stack = yuetan_testkit::stack().await;
        (stack.fresh_database().await.unwrap(), stack.nats_url.clone())
    });
    let output = Command::new(env!("CARGO_BIN_EXE_yuetan"))
        .args(["demo", "pipeline", "--events", "3"])
        .env("YUETAN_DATABASE__URL", &database_url)
        .env("YUETAN_NATS__URL", &nats_url)
        .env("YUETAN_NATS__STREAM", "DEMOTEST")
        .env("YUETAN_NATS__SUBJECT_PREFIX", "demotest.ev")
        .output()
        .unwrap();
    let out = stdout(&output);
    assert!(output.status.success(), "{out}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(out.lines().filter(|l| l.starts_with("committed")).count(), 3, "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("applied")).count(), 3, "{out}");
    assert!(out.contains("subject=demotest.ev.62.01.02.demo.sample_pinged"), "{out}");
    assert!(out.contains("demo ok"), "{out}");
    drop(runtime);
}

#[test]
fn r_time_1_serve_refuses_a_holiday_file_that_does_not_load_naming_the_setting() {
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/local/yuetan.toml");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("holidays.toml");
    std::fs::write(&bad, "[2027]\nholidays = [\"2027-13-01\"]\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_yuetan"))
        .args(["--config", config, "serve", "intake"])
        .env("YUETAN_CALENDAR__HOLIDAYS_FILE", &bad)
        .env("YUETAN_TELEMETRY__FILTER", "error")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("calendar.holidays_file"), "{stderr}");
}
