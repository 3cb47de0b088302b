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
fn the_demo_pipeline_runs_with_split_database_roles() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (urls, nats_url, unique) = runtime.block_on(async {
        let stack = yuetan_testkit::stack().await;
        (stack.fresh_database_with_roles().await.unwrap(), stack.nats_url.clone(), stack.unique_name(""))
    });
    let output = Command::new(env!("CARGO_BIN_EXE_yuetan"))
        .args(["--config", LOCAL_CONFIG, "demo", "pipeline", "--events", "2"])
        .env("YUETAN_DATABASE__URL", &urls.runtime)
        .env("YUETAN_DATABASE__OWNER_URL", &urls.owner)
        .env("YUETAN_NATS__URL", &nats_url)
        .env("YUETAN_NATS__STREAM", format!("D{unique}"))
        .env("YUETAN_NATS__SUBJECT_PREFIX", format!("d{unique}.ev"))
        .output()
        .unwrap();
    let out = stdout(&output);
    assert!(output.status.success(), "{out}\n{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(out.lines().filter(|l| l.starts_with("applied")).count(), 2, "{out}");
    drop(runtime);
}

#[test]
fn r_time_1_serve_refuses_a_holiday_file_that_does_not_load_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("holidays.toml");
    std::fs::write(&bad, "[2027]\nholidays = [\"2027-13-01\"]\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_yuetan"))
        .args(["--config", LOCAL_CONFIG, "serve", "intake"])
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

/// The local configuration, pointed at the test servers: a database, a
/// stream and a subject prefix of this test's own.
struct TestEnv {
    vars: Vec<(&'static str, String)>,
    _dir: tempfile::TempDir,
}

const LOCAL_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/local/yuetan.toml");

fn test_env(runtime: &tokio::runtime::Runtime) -> TestEnv {
    let (urls, nats_url, unique) = runtime.block_on(async {
        let stack = yuetan_testkit::stack().await;
        (stack.fresh_database_with_roles().await.unwrap(), stack.nats_url.clone(), stack.unique_name(""))
    });
    let dir = tempfile::tempdir().unwrap();
    // As deployed: migrations as the owner, the services as the runtime role.
    let vars = vec![
        ("YUETAN_DATABASE__URL", urls.runtime),
        ("YUETAN_DATABASE__OWNER_URL", urls.owner),
        ("YUETAN_NATS__URL", nats_url),
        ("YUETAN_NATS__STREAM", format!("T{unique}")),
        ("YUETAN_NATS__SUBJECT_PREFIX", format!("t{unique}.ev")),
        ("YUETAN_OBJECTS__ROOT", dir.path().join("objects").display().to_string()),
    ];
    TestEnv { vars, _dir: dir }
}

/// `yuetan serve <service>` in the background, its stdout line by line;
/// stopped with SIGTERM however the test ends.
struct Serve {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Serve {
    fn start(service: &str, env: &TestEnv, extra: &[(&str, &str)]) -> Serve {
        use std::io::BufRead;
        let mut command = Command::new(env!("CARGO_BIN_EXE_yuetan"));
        command
            .args(["--config", LOCAL_CONFIG, "serve", service])
            .env("YUETAN_GRPC__LISTEN", "127.0.0.1:0")
            .env("YUETAN_TELEMETRY__FORMAT", "json")
            .stdout(std::process::Stdio::piped());
        for (key, value) in &env.vars {
            command.env(key, value);
        }
        for (key, value) in extra {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let (send, lines) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = send.send(line);
            }
        });
        Serve { child, lines }
    }

    /// Waits until it serves; its gRPC address as a URL.
    fn url(&self) -> String {
        let line = wait_for_line(&self.lines, "serving gRPC on ");
        let addr = line.rsplit("serving gRPC on ").next().unwrap().trim();
        format!("http://{addr}")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

#[test]
fn r_time_1_serve_reloads_the_holiday_file_on_sighup_and_keeps_the_old_data_when_it_does_not_load() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let env = test_env(&runtime);
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/../../libs/calendar/data/holidays.toml");
    let dir = tempfile::tempdir().unwrap();
    let holidays = dir.path().join("holidays.toml");
    std::fs::copy(data, &holidays).unwrap();
    let serve = Serve::start("intake", &env, &[("YUETAN_CALENDAR__HOLIDAYS_FILE", holidays.to_str().unwrap())]);
    serve.url();
    let pid = serve.child.id().to_string();
    let hangup = || {
        let status = Command::new("kill").args(["-HUP", &pid]).status().unwrap();
        assert!(status.success());
    };

    std::fs::write(&holidays, "[2027]\nholidays = [\"2027-13-01\"]\n").unwrap();
    hangup();
    let refused = wait_for_line(&serve.lines, "holiday calendar not reloaded");
    assert!(refused.contains("2027"), "the error names what is wrong: {refused}");

    std::fs::copy(data, &holidays).unwrap();
    hangup();
    let reloaded = wait_for_line(&serve.lines, "holiday calendar reloaded");
    assert!(reloaded.contains("2026"), "the years loaded are logged: {reloaded}");
    drop(serve);
    drop(runtime);
}

#[test]
fn serve_review_runs_review_alone() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let env = test_env(&runtime);
    let serve = Serve::start("review", &env, &[]);
    assert!(serve.url().starts_with("http://127.0.0.1:"));
    drop(serve);
    drop(runtime);
}

#[test]
fn r_start_3_r_start_4_r_notice_1_r_notice_2_r_int_2_r_int_4_the_case_demo_takes_a_case_through_approval_and_the_served_notice_to_the_signed_interview_record() {
    use yuetan_testkit::peers::{SmsPeer, SmsPeerConfig, SmtpPeer};
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let env = test_env(&runtime);
    // The provider peers of deploy/local/yuetan.toml, on ports of this test's own;
    // the portal on a port chosen first, so the gateway knows where to report.
    let portal_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let portal = format!("http://127.0.0.1:{portal_port}");
    let smtp = SmtpPeer::start();
    let sms = runtime.block_on(SmsPeer::start(SmsPeerConfig {
        access_key_id: "local-sms-key".into(),
        access_key_secret: "local-sms-secret".into(),
        callback_url: Some(format!("{portal}/callbacks/sms")),
        callback_secret: "local-sms-callback-secret".into(),
    }));
    // A real Janus for the video interview, its event handler posting to the portal
    // with the credentials of deploy/local/yuetan.toml.
    let janus = runtime
        .block_on(yuetan_testkit::JanusPeer::start(yuetan_testkit::JanusOptions {
            event_backend: Some(format!("{portal}/callbacks/janus")),
            event_user: Some("janus".into()),
            event_password: Some("local-janus-event-password".into()),
            admin_key: "local-janus-videoroom-admin-key".into(),
        }))
        .expect("janus starts");
    let (listen, smtp_port) = (format!("127.0.0.1:{portal_port}"), smtp.port().to_string());
    let recordings = janus.recordings_dir().display().to_string();
    let serve = Serve::start(
        "all",
        &env,
        &[
            ("YUETAN_PORTAL__LISTEN", &listen),
            ("YUETAN_LINKS__BASE_URL", &portal),
            ("YUETAN_SCHEDULING__SMS__ENDPOINT", &sms.endpoint()),
            ("YUETAN_SCHEDULING__EMAIL__PORT", &smtp_port),
            ("YUETAN_SCHEDULING__VIDEO__JANUS__URL", &janus.url()),
            ("YUETAN_SCHEDULING__VIDEO__JANUS__RECORDINGS_DIR", &recordings),
        ],
    );
    let url = serve.url();
    let mut demo = Command::new(env!("CARGO_BIN_EXE_yuetan"));
    demo.args(["--config", LOCAL_CONFIG, "demo", "case", "--server", &url]);
    for (key, value) in &env.vars {
        demo.env(key, value);
    }
    // The portal's address, should the demo sign the report link itself.
    demo.env("YUETAN_LINKS__BASE_URL", &portal);
    let output = demo.output().unwrap();
    let all = stdout(&output);
    assert!(output.status.success(), "{all}\n{}", String::from_utf8_lossy(&output.stderr));
    // The first case up to its rectification; then the second case and the events.
    let out = all.split("\nrectify    ").next().unwrap().to_string();
    let number = "兰城市监约〔";
    let line = |prefix: &str| out.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix:?} line in\n{out}"));
    assert!(out.lines().any(|l| l.starts_with("case ") && l.ends_with("submitted for legality review (round 1)")), "{out}");
    let review = line("review ");
    assert!(review.contains(number) && review.contains("legality review passed (round 1, deadline 20"), "{out}");
    let approval = line("approval ");
    assert!(approval.contains(number) && approval.ends_with("approved by deputy leader"), "{out}");
    let events: Vec<&str> = all.lines().filter(|l| l.starts_with("event ")).collect();
    let types: Vec<&str> = events.iter().map(|l| l.split_whitespace().nth(1).unwrap()).collect();
    assert_eq!(
        types[..14],
        [
            "intake.clue_registered",
            "intake.clue_verified",
            "intake.case_opened",
            "intake.case_submitted",
            "review.review_opened",
            "review.review_passed",
            "review.case_approved",
            "scheduling.plan_opened",
            "scheduling.interview_planned",
            "scheduling.notice_issued",
            "scheduling.document_review_requested",
            "review.document_review_decided",
            "scheduling.service_requested",
            "scheduling.document_served",
        ],
        "{out}"
    );
    let prefix = &env.vars.iter().find(|(k, _)| *k == "YUETAN_NATS__SUBJECT_PREFIX").unwrap().1;
    assert!(events[6].contains(&format!("subject={prefix}.62.01.02.review.case_approved ")), "{out}");
    // Past approval: the notice numbered, its PDF, served by SMS and by e-mail with receipts.
    let notice = line("notice     兰城市监约通〔");
    assert!(notice.contains("issued"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("notice     PDF at ") && l.contains("/sha256/")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("served ") && l.contains("by SMS at") && l.contains("receipt 兰城市监送回〔")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("served ") && l.contains("by e-mail at")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("evidence   sms delivery report DELIVERED")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("evidence   SMTP reply 250")), "{out}");
    for event_type in [
        "scheduling.plan_opened",
        "scheduling.interview_planned",
        "scheduling.notice_issued",
        "scheduling.service_requested",
        "scheduling.document_served",
        "scheduling.service_failed",
        "scheduling.notice_deadline_missed",
        "scheduling.reschedule_needed",
    ] {
        assert!(all.lines().any(|l| l.starts_with("contract ") && l.split_whitespace().nth(1) == Some(event_type)), "{event_type} not printed:\n{all}");
    }
    // Each notice once: per case the interview notice and the rectification
    // notice, and the first case's certificate, by SMS; the interview notices by e-mail too.
    assert_eq!(sms.messages().len(), 5, "the gateway got each document once");
    assert_eq!(smtp.messages().len(), 2, "the mail server got each interview notice once");
    // The video interview on Janus to the signed record.
    for event_type in ["scheduling.interview_started", "scheduling.participant_joined", "scheduling.participant_left", "scheduling.interview_held", "scheduling.record_signed"] {
        assert!(types.contains(&event_type), "{event_type} not on the bus:\n{out}");
    }
    assert!(out.lines().any(|l| l.starts_with("janus ") && l.contains("wrong token is refused")), "{out}");
    let record = line("record     兰城市监约录〔");
    assert!(out.lines().any(|l| l.starts_with("record ") && l.contains("version 1 signed")), "{record}\n{out}");
    assert!(out.lines().any(|l| l.starts_with("record     signed PDF at ") && l.contains("/sha256/")), "{out}");
    assert_eq!(out.lines().filter(|l| l.starts_with("item ")).count(), 2, "two rectification items: {out}");
    assert!(out.lines().any(|l| l.starts_with("present ") && l.contains("(party, party)")), "{out}");
    assert!(all.lines().last().unwrap().starts_with("demo ok: case 兰城市监约〔"), "{all}");
    let last = all.trim_end().lines().last().unwrap();
    assert!(last.contains("served by SMS and e-mail") && last.contains("video interview held on Janus") && last.contains("signed;"), "{all}");

    // R-RECT-1..6: the rectification notice, the ledger, the party's report
    // through the portal, two officers' acceptance and the certificate; the
    // second case handed to penalty.
    let all_line = |prefix: &str| all.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix:?} line in\n{all}"));
    assert!(all_line("rectify    notice 兰城市监整改〔").contains("issued"), "{all}");
    assert!(all.lines().any(|l| l.starts_with("rectify    notice ") && l.contains("sealed (key ") && l.contains("served by SMS")), "{all}");
    assert!(all_line("ledger     entry ").contains("by phone"), "{all}");
    assert!(all_line("portal     GET /r/… ").contains("200"), "{all}");
    assert!(all_line("portal     POST /r/… ").contains("200 OK: the report with 2 files"), "{all}");
    assert!(all_line("report     by portal ").contains("2 attachment(s), late false"), "{all}");
    let accepted = all_line("rectification accepted: certificate 兰城市监验合〔");
    assert!(accepted.contains("accepted by demo-officer-1, demo-officer-2"), "{all}");
    let handed = all_line("rectification handed off: reason acceptance_failed, ");
    assert!(handed.contains("draft prior notice sha256 ") && handed.contains("references interview_record 兰城市监约录〔"), "{all}");
    assert!(all.lines().any(|l| l.starts_with("rectification ") && l.contains("tests/e2e/tests/rectification_flow.rs")), "{all}");
    for event_type in [
        "rectification.opened",
        "rectification.notice_issued",
        "rectification.ledger_entry_added",
        "portal.report_submitted",
        "rectification.report_submitted",
        "rectification.accepted",
        "rectification.acceptance_failed",
        "rectification.penalty_handoff",
    ] {
        assert!(types.contains(&event_type), "{event_type} not on the bus:\n{all}");
    }
    assert_eq!(types.iter().filter(|t| **t == "rectification.opened").count(), 2, "one per case: {all}");
    // Issue 12: supervision's view of both cases — closed timelines, their
    // cards (the approval card met, closed), the county's KPI line beside its
    // targets and the city's roll-up with the county as a line.
    assert_eq!(all.lines().filter(|l| l.starts_with("timeline ") && l.ends_with("closed")).count(), 2, "{all}");
    assert!(all.lines().any(|l| l.starts_with("card ") && l.contains(" approval ") && l.contains("closed, met")), "{all}");
    let kpi = all_line("kpi        620102 ");
    assert!(kpi.contains("start_timeliness ") && kpi.contains("(target 100%)") && kpi.contains("score "), "{kpi}");
    assert!(all.lines().any(|l| l.starts_with("rollup     620100 ")), "{all}");
    assert!(all.lines().any(|l| l.starts_with("rollup     620102: open ")), "{all}");
    for event_type in [
        "supervision.card_changed",
        "supervision.daily_rollup",
        "supervision.section_warned",
        "supervision.award_eligibility_lost",
        "supervision.sample_drawn",
        "supervision.file_scored",
        "supervision.rating_received",
        "supervision.complaint_registered",
        "supervision.complaint_decided",
    ] {
        assert!(all.lines().any(|l| l.starts_with("contract ") && l.split_whitespace().nth(1) == Some(event_type)), "{event_type} not printed:\n{all}");
    }
    // Issue 13 (R-DOC-3): the first case archived — its manifest signed,
    // the whole file downloaded through the export API and verified.
    let archived = all_line("archive    兰城市监约〔");
    assert!(archived.contains(": archived, ") && archived.contains(" documents, retention ") && archived.contains("/sha256/"), "{archived}");
    assert!(all.lines().any(|l| l.starts_with("archive    ") && l.contains("行政约谈通知书")), "the notice is in the archive:\n{all}");
    let downloaded = all_line("archive    downloaded ");
    assert!(downloaded.contains(": verified, ") && downloaded.contains("yuetan casefile verify "), "{downloaded}");
    let tar = downloaded.trim_start_matches("archive    downloaded ").split(" (").next().unwrap().to_string();
    let mut verify_command = Command::new(env!("CARGO_BIN_EXE_yuetan"));
    verify_command.args(["--config", LOCAL_CONFIG, "casefile", "verify", &tar]);
    for (key, value) in &env.vars {
        verify_command.env(key, value);
    }
    let verified = verify_command.output().unwrap();
    assert!(verified.status.success() && stdout(&verified).contains("verified: "), "{}", stdout(&verified));
    for event_type in [
        "supervision.case_closed",
        "supervision.case_archived",
        "supervision.paper_archived",
        "supervision.destruction_approved",
        "supervision.case_destroyed",
        "supervision.relief_marked",
        "supervision.relief_reply_overdue",
        "relief.application_received",
        "relief.lawsuit_filed",
        "relief.decided",
    ] {
        assert!(all.lines().any(|l| l.starts_with("contract ") && l.split_whitespace().nth(1) == Some(event_type)), "{event_type} not printed:\n{all}");
    }
    assert!(all.trim_end().lines().last().unwrap().contains(" archived with "), "{all}");
    for (event_type, seen) in [
        ("rectification.accepted", true),
        ("rectification.penalty_handoff", true),
        ("rectification.follow_up_overdue", false),
        ("rectification.report_late", false),
        ("rectification.extended", false),
        ("rectification.reinspected", false),
    ] {
        let line = all.lines().find(|l| l.starts_with("contract ") && l.split_whitespace().nth(1) == Some(event_type)).unwrap_or_else(|| panic!("{event_type} not printed:\n{all}"));
        assert_eq!(line.ends_with("seen in this run"), seen, "{line}");
    }

    // R-DOC-2: the notice's PDF verifies against its record and seal; one byte changed does not.
    let pdf = line("notice     PDF at ").trim_start_matches("notice     PDF at ").trim().to_string();
    let verify = |file: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_yuetan"));
        command.args(["--config", LOCAL_CONFIG, "document", "verify", file]);
        for (key, value) in &env.vars {
            command.env(key, value);
        }
        command.output().unwrap()
    };
    let good = verify(&pdf);
    assert!(good.status.success(), "{}", stdout(&good));
    assert!(stdout(&good).starts_with("ok: 行政约谈通知书 兰城市监约通〔"), "{}", stdout(&good));
    let mut bytes = std::fs::read(&pdf).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let dir = tempfile::tempdir().unwrap();
    let altered = dir.path().join("altered.pdf");
    std::fs::write(&altered, &bytes).unwrap();
    let bad = verify(altered.to_str().unwrap());
    assert!(!bad.status.success());
    assert!(stdout(&bad).contains("NOT VERIFIED") && stdout(&bad).contains("no sealed document"), "{}", stdout(&bad));
    drop(serve);

    // The services ran as the runtime role; it can still verify every log.
    let mut verify = Command::new(env!("CARGO_BIN_EXE_yuetan"));
    verify.args(["--config", LOCAL_CONFIG, "audit", "verify"]);
    for (key, value) in &env.vars {
        verify.env(key, value);
    }
    let output = verify.output().unwrap();
    let out = stdout(&output);
    assert!(output.status.success(), "{out}\n{}", String::from_utf8_lossy(&output.stderr));
    for schema in ["intake", "review", "scheduling", "portal", "rectification"] {
        assert!(out.lines().any(|l| l.starts_with(&format!("{schema}: ")) && l.ends_with(" rows, intact")), "{out}");
    }
    drop(runtime);
}

#[test]
fn the_development_config_refuses_to_serve_off_loopback_in_one_line() {
    let output = Command::new(env!("CARGO_BIN_EXE_yuetan"))
        .args(["--config", LOCAL_CONFIG, "serve", "all"])
        .env("YUETAN_GRPC__LISTEN", "0.0.0.0:0")
        .output()
        .unwrap();
    assert!(!output.status.success(), "served with the published keys on 0.0.0.0");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("grpc.listen") && stderr.contains("0.0.0.0:0"), "{stderr}");
    assert!(stderr.contains("published development keys") && stderr.contains("127.0.0.1"), "{stderr}");
}

/// A dead letter of review's intake consumer, as the consumer would have
/// stored it: an `intake.case_opened` that waited past the order horizon.
async fn insert_dead_letter(database_url: &str, case_id: uuid::Uuid, number: &str) -> i64 {
    use prost::Message as _;
    use yuetan_proto::events::{event::Payload, CaseOpened, Event};
    let event = Event {
        id: uuid::Uuid::now_v7().to_string(),
        r#type: "intake.case_opened".into(),
        case_id: case_id.to_string(),
        case_version: 1,
        jurisdiction: "620102".into(),
        organ: "620102-SJ".into(),
        payload: Some(Payload::CaseOpened(CaseOpened {
            case_id: case_id.to_string(),
            number: number.into(),
            lead_organ: "620102-SJ".into(),
            violation_type: "食品安全".into(),
            proposed_by: "officer-1".into(),
            ..Default::default()
        })),
        ..Default::default()
    };
    let pool = yuetan_platform::db::connect(database_url, "review", 2).await.unwrap();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO dead_letters (consumer, event_id, event_type, subject, stream_seq, deliveries, error, payload, headers, kind)
         VALUES ('review-intake', $1, 'intake.case_opened', 'x.62.01.02.intake.case_opened', 7, 40,
                 'case: version 1 waited; past consumer.order_horizon_secs', $2, '{}'::jsonb, 'waited')
         RETURNING id",
    )
    .bind(uuid::Uuid::parse_str(&event.id).unwrap())
    .bind(event.encode_to_vec())
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    id
}

async fn get_status(url: &str, token: &str) -> yuetan_proto::platform::GetStatusResponse {
    use yuetan_proto::platform::platform_service_client::PlatformServiceClient;
    let mut client = PlatformServiceClient::connect(url.to_string()).await.unwrap();
    let mut request = tonic::Request::new(yuetan_proto::platform::GetStatusRequest {});
    request.metadata_mut().insert("authorization", format!("Bearer {token}").parse().unwrap());
    client.get_status(request).await.unwrap().into_inner()
}

#[test]
fn deadletter_list_shows_an_open_dead_letter_replay_applies_it_once_and_get_status_counts_it() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let env = test_env(&runtime);
    let database_url = env.vars.iter().find(|(k, _)| *k == "YUETAN_DATABASE__URL").unwrap().1.clone();
    let serve = Serve::start("review", &env, &[]);
    let url = serve.url();
    let case_id = uuid::Uuid::now_v7();
    let number = "兰城市监约〔2026〕9号";
    let id = runtime.block_on(insert_dead_letter(&database_url, case_id, number));
    let name = format!("review/{id}");
    let run = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_yuetan"));
        command.args(["--config", LOCAL_CONFIG]).args(args);
        for (key, value) in &env.vars {
            command.env(key, value);
        }
        command.output().unwrap()
    };

    // Visible: in GetStatus (admin) and in the list.
    let token = stdout(&run(&["token", "issue", "--officer", "ops-1", "--name", "运维", "--organ", "620102-SJ", "--division", "620102", "--roles", "admin"]));
    let status = runtime.block_on(get_status(&url, token.trim()));
    let open: Vec<_> = status.dead_letters.iter().filter(|d| d.schema == "review").collect();
    assert_eq!(open.len(), 1, "{status:?}");
    assert_eq!((open[0].consumer.as_str(), open[0].count), ("review-intake", 1));
    let listed = run(&["deadletter", "list"]);
    let out = stdout(&listed);
    assert!(listed.status.success(), "{out}\n{}", String::from_utf8_lossy(&listed.stderr));
    assert!(out.contains(&format!("{name} open consumer=review-intake kind=waited")), "{out}");
    assert!(out.contains("error: case: version 1 waited"), "{out}");

    // Replayed once through review's running consumer; the second replay applies nothing.
    let first = run(&["deadletter", "replay", &name]);
    assert!(first.status.success(), "{}\n{}", stdout(&first), String::from_utf8_lossy(&first.stderr));
    assert_eq!(stdout(&first), format!("{name}: applied\n"));
    let second = run(&["deadletter", "replay", &name]);
    assert!(second.status.success());
    assert!(stdout(&second).starts_with(&format!("{name}: already applied")), "{}", stdout(&second));
    let cases: i64 = runtime.block_on(async {
        let pool = yuetan_platform::db::connect(&database_url, "review", 2).await.unwrap();
        sqlx::query_scalar("SELECT count(*) FROM cases WHERE number = $1").bind(number).fetch_one(&pool).await.unwrap()
    });
    assert_eq!(cases, 1, "review learnt the case once");
    assert_eq!(stdout(&run(&["deadletter", "list"])), "no open dead letters\n");
    assert!(stdout(&run(&["deadletter", "list", "--all"])).contains("resolution: applied by replay"));
    assert!(runtime.block_on(get_status(&url, token.trim())).dead_letters.is_empty());

    // Names that do not point at a dead letter: one line on stderr.
    for bad in ["review/x", "review", "nowhere/1", "review/999999"] {
        let output = run(&["deadletter", "replay", bad]);
        assert!(!output.status.success(), "{bad}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{bad}: {stderr}");
    }
    drop(serve);
    drop(runtime);
}
