//! The Janus provider against a real Janus (Debian's `janus`, started by
//! `yuetan_testkit::JanusPeer`): rooms are created, listed, adopted and
//! destroyed through the VideoRoom plugin's HTTP API; Janus itself lets in
//! only the tokens and PIN the provider issued; the event handler's posts of
//! joins and leaves read back as [`RoomEvent`]s.

use std::time::{Duration, Instant};

use base64::Engine as _;
use chrono::{TimeDelta, Utc};
use yuetan_testkit::peers::CallbackSink;
use yuetan_testkit::{JanusOptions, JanusPeer};
use yuetan_video::events::{self, RoomEvent};
use yuetan_video::janus::VIDEOROOM_ERROR_UNAUTHORIZED;
use yuetan_video::{Created, JanusParticipant, JanusProvider, JanusSettings, JoinInfo, RoomParticipant, RoomSpec, VideoError, VideoProvider};

const ADMIN_KEY: &str = "test-admin-key";
const TAG: &str = "yuetan-test";

async fn janus(sink: Option<&CallbackSink>) -> JanusPeer {
    JanusPeer::start(JanusOptions {
        event_backend: sink.map(|sink| sink.url("/janus/events")),
        event_user: Some("evh".into()),
        event_password: Some("evh-password".into()),
        admin_key: ADMIN_KEY.into(),
    })
    .await
    .unwrap_or_else(|err| panic!("cannot start janus: {err:#}"))
}

fn settings(peer: &JanusPeer) -> JanusSettings {
    JanusSettings {
        url: peer.url(),
        public_url: String::new(),
        admin_key: ADMIN_KEY.into(),
        room_key: "room-key".into(),
        recordings_dir: peer.recordings_dir(),
    }
}

fn provider(peer: &JanusPeer) -> JanusProvider {
    JanusProvider::new(settings(peer)).unwrap()
}

fn participant(key: &str, display: &str, feed_id: u64, moderator: bool) -> RoomParticipant {
    RoomParticipant { key: key.into(), display: display.into(), feed_id, moderator }
}

fn room(room_id: u64, tag: &str) -> RoomSpec {
    RoomSpec {
        room_id,
        description: format!("{tag}:interview-{room_id}"),
        participants: vec![participant("officer-1", "办案人员", 101, true), participant("party", "当事人", 102, false)],
        record: true,
    }
}

fn join_info(provider: &JanusProvider, spec: &RoomSpec, who: usize) -> JoinInfo {
    provider.join_info(spec, &spec.participants[who], Utc::now() + TimeDelta::hours(2)).unwrap()
}

/// Waits until the sink's posts hold an event `wanted` accepts.
async fn wait_for_event(sink: &CallbackSink, wanted: impl Fn(&RoomEvent) -> bool) -> RoomEvent {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for request in sink.requests() {
            let parsed = events::parse(&request.body).unwrap_or_else(|err| panic!("a post that is not JSON ({err}): {:?}", request.body));
            if let Some(event) = parsed.into_iter().find(|event| wanted(event)) {
                return event;
            }
        }
        assert!(Instant::now() < deadline, "no such event within 10 s; posts: {:?}", sink.requests());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_room_is_created_listed_adopted_joined_left_and_destroyed() {
    let sink = CallbackSink::start().await;
    let peer = janus(Some(&sink)).await;
    let provider = provider(&peer);
    let spec = room(4_200_001, TAG);
    let other = room(4_200_002, "another-deployment");

    assert_eq!(provider.create_room(&spec).await.unwrap(), Created::New, "{}", peer.log());
    assert_eq!(provider.create_room(&other).await.unwrap(), Created::New);
    let listed = provider.list_rooms(TAG).await.unwrap();
    assert_eq!(listed.len(), 1, "only this tag's room: {listed:?}");
    assert_eq!((listed[0].room_id, listed[0].description.as_str()), (spec.room_id, spec.description.as_str()));
    // A retry after a crash adopts the room.
    assert_eq!(provider.create_room(&spec).await.unwrap(), Created::Existing);

    // The party joins with the credentials it was issued.
    let info = join_info(&provider, &spec, 1);
    assert_eq!((info.provider.as_str(), info.url.as_str(), info.room.as_str()), ("janus", peer.url().as_str(), "4200001"));
    assert_eq!((info.feed_id, info.display.as_str()), (102, "当事人"));
    let mut party = JanusParticipant::connect(&info.url).await.unwrap();
    party.join(&info).await.unwrap_or_else(|err| panic!("join refused: {err}\n{}", peer.log()));
    let joined = wait_for_event(&sink, |event| matches!(event, RoomEvent::Joined { .. })).await;
    let RoomEvent::Joined { room_id, feed_id, display, at } = joined else { unreachable!() };
    assert_eq!((room_id, feed_id, display.as_str()), (spec.room_id, 102, "当事人"));
    assert!((Utc::now() - at).num_seconds().abs() < 300, "the join's time is Janus's now: {at}");
    // The event handler authenticates to the backend as configured.
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("evh:evh-password"));
    let first = &sink.requests()[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.path, "/janus/events");
    assert_eq!(first.headers.get("authorization").and_then(|v| v.to_str().ok()), Some(expected.as_str()));

    party.leave().await.unwrap();
    let left = wait_for_event(&sink, |event| matches!(event, RoomEvent::Left { .. })).await;
    assert!(matches!(left, RoomEvent::Left { room_id: 4_200_001, feed_id: 102, .. }), "{left:?}");

    provider.destroy_room(spec.room_id).await.unwrap();
    assert!(provider.list_rooms(TAG).await.unwrap().is_empty());
    assert_eq!(provider.list_rooms("another-deployment").await.unwrap().len(), 1);
    // Destroying a room that is not there is fine (reconciliation retries).
    provider.destroy_room(spec.room_id).await.unwrap();
    // …and a room made again after its destruction is new.
    assert_eq!(provider.create_room(&spec).await.unwrap(), Created::New);
}

#[tokio::test]
async fn janus_refuses_a_wrong_token_a_wrong_pin_and_another_rooms_token() {
    let peer = janus(None).await;
    let provider = provider(&peer);
    let spec = room(4_300_001, TAG);
    let neighbour = room(4_300_002, TAG);
    provider.create_room(&spec).await.unwrap();
    provider.create_room(&neighbour).await.unwrap();
    let good = join_info(&provider, &spec, 0);

    let refused = |result: Result<(), VideoError>| match result {
        Err(VideoError::Refused { code, reason }) => (code, reason),
        other => panic!("expected Janus's refusal, got {other:?}"),
    };

    let mut wrong_token = good.clone();
    wrong_token.token = "0123456789abcdef0123456789abcdef".into();
    let mut intruder = JanusParticipant::connect(&peer.url()).await.unwrap();
    let (code, reason) = refused(intruder.join(&wrong_token).await);
    assert_eq!(code, VIDEOROOM_ERROR_UNAUTHORIZED, "{reason}");
    assert!(reason.contains("allowed"), "{reason}");

    let mut wrong_pin = good.clone();
    wrong_pin.pin = if good.pin == "000000" { "111111".into() } else { "000000".into() };
    let (code, reason) = refused(intruder.join(&wrong_pin).await);
    assert_eq!(code, VIDEOROOM_ERROR_UNAUTHORIZED, "{reason}");
    assert!(reason.contains("pin"), "{reason}");

    // The neighbouring room's own participant, with its own credentials, in this room.
    let mut elsewhere = join_info(&provider, &neighbour, 0);
    elsewhere.room = good.room.clone();
    elsewhere.pin = good.pin.clone();
    let (code, _) = refused(intruder.join(&elsewhere).await);
    assert_eq!(code, VIDEOROOM_ERROR_UNAUTHORIZED);
    intruder.leave().await.unwrap();

    // The same session shape with the issued credentials gets in.
    let mut officer = JanusParticipant::connect(&peer.url()).await.unwrap();
    officer.join(&good).await.unwrap();
    officer.leave().await.unwrap();
}

#[tokio::test]
async fn creating_a_room_needs_the_admin_key() {
    let peer = janus(None).await;
    let provider = provider(&peer);
    let spec = room(4_400_001, TAG);

    let without = provider.create_room_with_admin_key(&spec, None).await;
    assert!(matches!(&without, Err(VideoError::Refused { code: 429, reason }) if reason.contains("admin_key")), "{without:?}");
    let wrong = provider.create_room_with_admin_key(&spec, Some("not-the-key")).await;
    assert!(matches!(&wrong, Err(VideoError::Refused { code: 433, .. })), "{wrong:?}");
    assert!(provider.list_rooms(TAG).await.unwrap().is_empty());

    // A provider configured with a wrong key cannot create rooms either.
    let mut settings_wrong = JanusSettings {
        public_url: "https://video.example.org/janus".into(),
        admin_key: "not-the-key".into(),
        ..settings(&peer)
    };
    let misconfigured = JanusProvider::new(settings_wrong.clone()).unwrap();
    assert!(matches!(misconfigured.create_room(&spec).await, Err(VideoError::Refused { code: 433, .. })));
    // …nor see the private rooms.
    assert!(matches!(misconfigured.list_rooms(TAG).await, Err(VideoError::Refused { code: 433, .. })));

    settings_wrong.admin_key = ADMIN_KEY.into();
    let right = JanusProvider::new(settings_wrong).unwrap();
    assert_eq!(right.create_room(&spec).await.unwrap(), Created::New);
    assert_eq!(right.list_rooms(TAG).await.unwrap().len(), 1);
    // The public URL is what participants are given.
    assert_eq!(join_info(&right, &spec, 0).url, "https://video.example.org/janus");
}

#[tokio::test]
async fn recordings_are_the_rooms_files_with_their_digest() {
    let peer = janus(None).await;
    let provider = provider(&peer);
    let spec = room(4_500_001, TAG);
    provider.create_room(&spec).await.unwrap();
    // A participant without media publishes nothing: no file.
    let mut party = JanusParticipant::connect(&peer.url()).await.unwrap();
    party.join(&join_info(&provider, &spec, 1)).await.unwrap();
    party.leave().await.unwrap();
    assert!(provider.recordings(spec.room_id).await.unwrap().is_empty());

    // Janus 1.1.2 names them videoroom-<room>-user-<feed>-<µs>-<media>-<mindex>.mjr.
    let dir = peer.recordings_dir();
    let ours = dir.join("videoroom-4500001-user-102-1795694075828769-audio-0.mjr");
    std::fs::write(&ours, b"abc").unwrap();
    std::fs::write(dir.join("videoroom-45000011-user-102-1795694075828769-audio-0.mjr"), b"other room").unwrap();
    std::fs::write(dir.join("notes-4500001.txt"), b"not a recording").unwrap();
    let found = provider.recordings(spec.room_id).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].path, ours);
    assert_eq!(found[0].bytes, 3);
    assert_eq!(found[0].sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

    // A folder that is not there is an error naming it.
    let missing = JanusProvider::new(JanusSettings { recordings_dir: dir.join("absent"), ..settings(&peer) }).unwrap();
    assert!(matches!(missing.recordings(1).await, Err(VideoError::Recordings { path, .. }) if path == dir.join("absent")));
}

#[tokio::test]
async fn an_unreachable_janus_is_unreachable_not_refused() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let provider = JanusProvider::new(JanusSettings {
        url: format!("http://127.0.0.1:{port}/janus"),
        public_url: String::new(),
        admin_key: ADMIN_KEY.into(),
        room_key: "room-key".into(),
        recordings_dir: std::env::temp_dir(),
    })
    .unwrap();
    let result = provider.create_room(&room(1, TAG)).await;
    assert!(matches!(result, Err(VideoError::Unreachable(_))), "{result:?}");
    assert!(matches!(JanusParticipant::connect(&format!("http://127.0.0.1:{port}/janus")).await, Err(VideoError::Unreachable(_))));
}

#[test]
fn settings_are_checked_and_named() {
    let good = JanusSettings {
        url: "http://127.0.0.1:8088/janus".into(),
        public_url: String::new(),
        admin_key: "k".into(),
        room_key: "r".into(),
        recordings_dir: "/var/lib/janus/recordings".into(),
    };
    assert!(JanusProvider::new(good.clone()).is_ok());
    let field = |settings: JanusSettings| match JanusProvider::new(settings) {
        Err(VideoError::Config { field, .. }) => field,
        other => panic!("expected a settings error, got {:?}", other.map(|_| ())),
    };
    assert_eq!(field(JanusSettings { url: String::new(), ..good.clone() }), "scheduling.video.janus.url");
    assert_eq!(field(JanusSettings { url: "127.0.0.1:8088".into(), ..good.clone() }), "scheduling.video.janus.url");
    assert_eq!(field(JanusSettings { public_url: "video.example.org".into(), ..good.clone() }), "scheduling.video.janus.public_url");
    assert_eq!(field(JanusSettings { admin_key: String::new(), ..good.clone() }), "scheduling.video.janus.admin_key");
    assert_eq!(field(JanusSettings { room_key: String::new(), ..good.clone() }), "scheduling.video.janus.room_key");
    assert_eq!(field(JanusSettings { recordings_dir: "".into(), ..good }), "scheduling.video.janus.recordings_dir");
}
