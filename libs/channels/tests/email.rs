//! E-mail through a real SMTP server (the testkit's aiosmtpd peer).

use std::time::Duration;

use yuetan_channels::{EmailChannel, EmailConfig};
use yuetan_testkit::peers::SmtpPeer;

fn channel(peer: &SmtpPeer) -> EmailChannel {
    EmailChannel::new(EmailConfig {
        host: "127.0.0.1".into(),
        port: peer.port(),
        from: "送达 <service@court.test>".into(),
        tls: false,
        timeout_secs: 5,
    })
}

#[tokio::test]
async fn accepted_mail_carries_the_key_and_the_queue_id() {
    let peer = SmtpPeer::start();
    let key = uuid::Uuid::now_v7().to_string();
    let body = "请查看送达文书：https://portal.test/s/abc.def";
    let outcome = channel(&peer)
        .send(&key, "party@example.test", "约谈通知书送达", body)
        .await
        .expect("accepted");

    let mails = peer.wait_for_messages(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(outcome.provider_id, mail.queue_id, "the queue id of the 250 reply is the provider id");
    assert!(outcome.reply.starts_with("250 "), "reply keeps the code: {}", outcome.reply);
    assert!(outcome.reply.contains(&mail.queue_id));
    assert_eq!(mail.message_id, format!("<{key}@yuetan>"));
    assert_eq!(mail.to, vec!["party@example.test".to_string()]);
    assert_eq!(mail.from, "service@court.test");
    assert_eq!(mail.subject, "约谈通知书送达");
    assert_eq!(mail.body.trim_end(), body);
}

#[tokio::test]
async fn messages_come_back_in_the_order_they_were_accepted() {
    let peer = SmtpPeer::start();
    let channel = channel(&peer);
    let keys: Vec<String> = (0..3).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    for key in &keys {
        channel.send(key, "party@example.test", "s", "b").await.unwrap();
    }
    let mails = peer.wait_for_messages(3, Duration::from_secs(5)).await.unwrap();
    let ids: Vec<String> = mails.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(ids, keys.iter().map(|k| format!("<{k}@yuetan>")).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_refused_mailbox_is_a_permanent_error_without_the_address() {
    let peer = SmtpPeer::start();
    let err = channel(&peer)
        .send(&uuid::Uuid::now_v7().to_string(), "bounce-me@example.test", "s", "b")
        .await
        .unwrap_err();
    assert!(err.permanent, "550 at RCPT is a bounce: {err}");
    assert!(err.detail.contains("550"), "{err}");
    assert!(!err.detail.contains("bounce-me"), "no address in the error: {err}");
    assert!(peer.messages().is_empty());
}

#[tokio::test]
async fn a_listed_recipient_is_refused_and_the_others_accepted() {
    let peer = SmtpPeer::start_with(0, &["gone@example.test"]).unwrap();
    let channel = channel(&peer);
    let err = channel.send("k-gone", "gone@example.test", "s", "b").await.unwrap_err();
    assert!(err.permanent, "{err}");
    channel.send("k-here", "here@example.test", "s", "b").await.unwrap();
    let mails = peer.wait_for_messages(1, Duration::from_secs(5)).await.unwrap();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].to, vec!["here@example.test".to_string()]);
}

#[tokio::test]
async fn a_relay_that_is_down_is_a_retryable_error() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let channel = EmailChannel::new(EmailConfig {
        host: "127.0.0.1".into(),
        port,
        from: "service@court.test".into(),
        tls: false,
        timeout_secs: 2,
    });
    let err = channel
        .send(&uuid::Uuid::now_v7().to_string(), "party@example.test", "s", "b")
        .await
        .unwrap_err();
    assert!(!err.permanent, "{err}");
}

#[tokio::test]
async fn bad_inputs_name_the_field() {
    let peer = SmtpPeer::start();
    let err = channel(&peer).send("k1", "not an address", "s", "b").await.unwrap_err();
    assert!(err.permanent && err.detail.starts_with("to:"), "{err}");
    let err = channel(&peer).send("bad key!", "party@example.test", "s", "b").await.unwrap_err();
    assert!(err.detail.starts_with("key:"), "{err}");
}
