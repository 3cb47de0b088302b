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

/// Waits for a line of the child's output containing `needle` (10 s).
fn wait_for_line(lines: &std::sync::mpsc::Receiver<String>, needle: &str) -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(_) => panic!("no line with {needle:?} within 10 s"),
        }
    }
}

#[test]
fn r_time_1_serve_reloads_the_holiday_file_on_sighup_and_keeps_the_old_data_when_it_does_not_load() {
    use std::io::BufRead;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (database_url, nats_url, unique) = runtime.block_on(async {
        let stack = yuetan_testkit::stack().await;
        (stack.fresh_database().await.unwrap(), stack.nats_url.clone(), stack.unique_name(""))
    });
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/local/yuetan.toml");
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../calendar/data/holidays.toml");
    let dir = tempfile::tempdir().unwrap();
    let holidays = dir.path().join("holidays.toml");
    std::fs::copy(data, &holidays).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_yuetan"))
        .args(["--config", config, "serve", "intake"])
        .env("YUETAN_DATABASE__URL", &database_url)
        .env("YUETAN_NATS__URL", &nats_url)
        .env("YUETAN_NATS__STREAM", format!("T{unique}"))
        .env("YUETAN_NATS__SUBJECT_PREFIX", format!("t{unique}.ev"))
        .env("YUETAN_GRPC__LISTEN", "127.0.0.1:0")
        .env("YUETAN_OBJECTS__ROOT", dir.path().join("objects"))
        .env("YUETAN_CALENDAR__HOLIDAYS_FILE", &holidays)
        .env("YUETAN_TELEMETRY__FORMAT", "json")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (send, lines) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = send.send(line);
        }
    });
    // Stopped however the test ends.
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
            let _ = self.0.wait();
        }
    }
    let pid = child.id().to_string();
    let _stop = Stop(child);
    wait_for_line(&lines, "serving gRPC");
    let hangup = || {
        let status = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
        assert!(status.success());
    };

    std::fs::write(&holidays, "[2027]\nholidays = [\"2027-13-01\"]\n").unwrap();
    hangup();
    let refused = wait_for_line(&lines, "holiday calendar not reloaded");
    assert!(refused.contains("2027"), "the error names what is wrong: {refused}");

    std::fs::copy(data, &holidays).unwrap();
    hangup();
    let reloaded = wait_for_line(&lines, "holiday calendar reloaded");
    assert!(reloaded.contains("2026"), "the years loaded are logged: {reloaded}");
    drop(_stop);
    drop(runtime);
}
