//! The subscriptions API over real HTTP: every route, ownership, the
//! secret shown only at creation and rotation, validation at the door,
//! rotation's grace, test deliveries, the OpenAPI document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::{Answer, Http, serve, with_owner_header};
use thorn::testkit::receiver::MockReceiver;
use thorn::{Config, RecipientPolicy, Thorn};
use thorn_testkit::client::{Method, StatusCode};

/// The API nested at `/hooks` over a Thorn delivering with `"default"`,
/// loopback receivers allowed; extra settings from `vars`.
async fn api(vars: &[(&str, &str)]) -> Http {
    let mut config = Config::from_vars(vars.iter().copied()).unwrap();
    config.recipients = RecipientPolicy::allow_loopback_any_port();
    let thorn = Thorn::new(config, &thorn::registry()).unwrap();
    let app = axum::Router::new().nest("/hooks", thorn_axum::subscriptions(thorn).unwrap());
    Http::new(serve(with_owner_header(app)).await)
}

async fn create(http: &Http, owner: &str, body: Value) -> Answer {
    http.call(Method::POST, "/hooks", Some(owner), Some(body))
        .await
}

fn is_problem(answer: &Answer, status: StatusCode) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(
        answer.content_type(),
        "application/problem+json",
        "{answer:?}"
    );
    assert_eq!(answer.json()["status"], status.as_u16());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_show_list_update_delete() {
    let http = api(&[]).await;
    let made = create(
        &http,
        "alice",
        json!({"event": "order.*", "url": "https://hooks.example.com/orders"}),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let sub = made.json();
    let id = sub["id"].as_str().unwrap().to_owned();
    let secret = sub["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(sub["event"], "order.*");
    assert_eq!(sub["content_type"], "application/json");
    assert_eq!(sub["digest"], "sha256");
    assert_eq!(sub["enabled"], true);

    let shown = http
        .call(Method::GET, &format!("/hooks/{id}"), Some("alice"), None)
        .await;
    assert_eq!(shown.status, StatusCode::OK);
    assert!(shown.json().get("secret").is_none());
    assert!(
        !String::from_utf8_lossy(&shown.body).contains(&secret),
        "the secret is shown once"
    );
    let listed = http.call(Method::GET, "/hooks", Some("alice"), None).await;
    assert_eq!(listed.json()["items"].as_array().unwrap().len(), 1);
    assert!(!String::from_utf8_lossy(&listed.body).contains(&secret));

    let patched = http
        .call(
            Method::PATCH,
            &format!("/hooks/{id}"),
            Some("alice"),
            Some(json!({"url": "https://hooks.example.com/v2", "enabled": false, "event": "order.paid"})),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{patched:?}");
    let p = patched.json();
    assert_eq!(
        (
            p["url"].as_str(),
            p["enabled"].as_bool(),
            p["event"].as_str()
        ),
        (
            Some("https://hooks.example.com/v2"),
            Some(false),
            Some("order.paid")
        )
    );
    assert!(p.get("secret").is_none());

    let gone = http
        .call(Method::DELETE, &format!("/hooks/{id}"), Some("alice"), None)
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    is_problem(
        &http
            .call(Method::GET, &format!("/hooks/{id}"), Some("alice"), None)
            .await,
        StatusCode::NOT_FOUND,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_owner_never_reaches_anothers_subscription() {
    let receiver = MockReceiver::start().await.unwrap();
    let http = api(&[]).await;
    let id = create(
        &http,
        "alice",
        json!({"event": "a.*", "url": receiver.url("/a")}),
    )
    .await
    .json()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/hooks/{id}");
    for (method, path, body) in [
        (Method::GET, path.clone(), None),
        (Method::PATCH, path.clone(), Some(json!({"enabled": false}))),
        (Method::DELETE, path.clone(), None),
        (Method::POST, format!("{path}/rotate-secret"), None),
        (Method::POST, format!("{path}/test"), None),
    ] {
        let answer = http
            .call(method.clone(), &path, Some("bob"), body.clone())
            .await;
        is_problem(&answer, StatusCode::NOT_FOUND);
        let unauthenticated = http.call(method, &path, None, body).await;
        is_problem(&unauthenticated, StatusCode::UNAUTHORIZED);
    }
    assert!(receiver.is_empty(), "bob's test sent nothing");
    let bobs = http
        .call(Method::GET, "/hooks", Some("bob"), None)
        .await
        .json();
    assert_eq!(bobs["items"], json!([]));
    // Still alice's, unchanged.
    let alices = http
        .call(Method::GET, &path, Some("alice"), None)
        .await
        .json();
    assert_eq!(alices["enabled"], true);
    is_problem(
        &http.call(Method::GET, "/hooks", None, None).await,
        StatusCode::UNAUTHORIZED,
    );
    is_problem(
        &http
            .call(Method::GET, "/hooks/not-a-uuid", Some("alice"), None)
            .await,
        StatusCode::NOT_FOUND,
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_at_the_door_naming_the_field() {
    let http = api(&[("THORN_MAX_SUBSCRIPTIONS_PER_OWNER", "2")]).await;
    for (body, field, says) in [
        (
            json!({"event": "a.*", "url": "http://169.254.169.254/latest/meta-data"}),
            "url",
            "THORN_RECIPIENT_VALIDATORS",
        ),
        (
            json!({"event": "a..b", "url": "https://example.com/"}),
            "event",
            "event",
        ),
        (
            json!({"event": "a.*", "url": "ftp://example.com/"}),
            "url",
            "ftp",
        ),
        (
            json!({"event": "a.*", "url": "https://example.com/", "digest": "md5"}),
            "digest",
            "md5",
        ),
        (
            json!({"event": "a.*", "url": "https://example.com/", "content_type": "text/xml"}),
            "content_type",
            "text/xml",
        ),
        (
            json!({"event": "a.*", "url": "https://example.com/", "signer": "rsa"}),
            "signer",
            "rsa",
        ),
        (
            json!({"event": "a.*", "url": "https://example.com/", "secret": "  "}),
            "secret",
            "secret",
        ),
    ] {
        let answer = create(&http, "alice", body.clone()).await;
        is_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY);
        let p = answer.json();
        assert_eq!(p["field"], field, "{body}: {p}");
        assert!(p["detail"].as_str().unwrap().contains(says), "{body}: {p}");
    }
    let unknown = create(
        &http,
        "alice",
        json!({"event": "a.*", "url": "https://example.com/", "colour": "red"}),
    )
    .await;
    is_problem(&unknown, StatusCode::UNPROCESSABLE_ENTITY);
    let syntax = http
        .send(
            Method::POST,
            "/hooks",
            &[("x-owner", "alice"), ("content-type", "application/json")],
            "{nope",
        )
        .await;
    is_problem(&syntax, StatusCode::BAD_REQUEST);
    let text = http
        .send(
            Method::POST,
            "/hooks",
            &[("x-owner", "alice"), ("content-type", "text/plain")],
            "{}",
        )
        .await;
    is_problem(&text, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge =
        json!({"event": "a.*", "url": format!("https://example.com/{}", "x".repeat(20_000))});
    is_problem(
        &create(&http, "alice", huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
    );
    is_problem(
        &http
            .call(Method::GET, "/hooks?limit=0", Some("alice"), None)
            .await,
        StatusCode::BAD_REQUEST,
    );
    is_problem(
        &http
            .call(Method::GET, "/hooks?event=a..b", Some("alice"), None)
            .await,
        StatusCode::BAD_REQUEST,
    );

    for n in 0..2 {
        let ok = create(
            &http,
            "alice",
            json!({"event": "a.*", "url": format!("https://example.com/{n}")}),
        )
        .await;
        assert_eq!(ok.status, StatusCode::CREATED);
    }
    is_problem(
        &create(
            &http,
            "alice",
            json!({"event": "a.*", "url": "https://example.com/3"}),
        )
        .await,
        StatusCode::CONFLICT,
    );
    let bobs = create(
        &http,
        "bob",
        json!({"event": "a.*", "url": "https://example.com/b"}),
    )
    .await;
    assert_eq!(bobs.status, StatusCode::CREATED, "the limit is per owner");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_and_filters() {
    let http = api(&[]).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let event = if n % 2 == 0 {
            "order.*"
        } else {
            "invoice.paid"
        };
        let made = create(
            &http,
            "alice",
            json!({"event": event, "url": format!("https://example.com/{n}")}),
        )
        .await;
        ids.push(made.json()["id"].as_str().unwrap().to_owned());
    }
    ids.sort();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let path = match &cursor {
            Some(c) => format!("/hooks?limit=2&cursor={c}"),
            None => "/hooks?limit=2".into(),
        };
        let page = http
            .call(Method::GET, &path, Some("alice"), None)
            .await
            .json();
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(items.iter().map(|i| i["id"].as_str().unwrap().to_owned()));
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, ids, "every subscription once, in order");
    let orders = http
        .call(
            Method::GET,
            "/hooks?event=order.created",
            Some("alice"),
            None,
        )
        .await
        .json();
    assert_eq!(orders["items"].as_array().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_delivers_and_rotation_keeps_both_secrets_during_grace() {
    let receiver = MockReceiver::start().await.unwrap();
    let http = api(&[]).await;
    let made = create(
        &http,
        "alice",
        json!({"event": "order.*", "url": receiver.url("/in"), "standard_webhooks": true}),
    )
    .await
    .json();
    let id = made["id"].as_str().unwrap().to_owned();
    let old = made["secret"].as_str().unwrap().to_owned();

    let tested = http
        .call(
            Method::POST,
            &format!("/hooks/{id}/test"),
            Some("alice"),
            None,
        )
        .await;
    assert_eq!(tested.status, StatusCode::OK, "{tested:?}");
    let outcome = tested.json();
    assert_eq!(outcome["status"], "delivered", "{outcome}");
    assert_eq!(outcome["http_status"], 200);
    let first = receiver.requests().pop().unwrap();
    assert_eq!(first.event(), Some("thorn.ping"));
    assert_eq!(first.header("hook-subscription"), Some(id.as_str()));
    assert_eq!(first.delivery(), outcome["delivery"].as_str());
    first.verify_standard(&old).unwrap();

    let rotated = http
        .call(
            Method::POST,
            &format!("/hooks/{id}/rotate-secret"),
            Some("alice"),
            None,
        )
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{rotated:?}");
    let r = rotated.json();
    let new = r["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let until = r["previous_secret_valid_until"].as_i64().unwrap();
    assert!(
        (until - now - 24 * 3600).abs() <= 5,
        "24 h of grace by default: {until} vs {now}"
    );
    let shown = http
        .call(Method::GET, &format!("/hooks/{id}"), Some("alice"), None)
        .await;
    assert!(
        !String::from_utf8_lossy(&shown.body).contains(&new),
        "the new secret is shown once"
    );

    http.call(
        Method::POST,
        &format!("/hooks/{id}/test"),
        Some("alice"),
        None,
    )
    .await;
    let second = receiver.requests().pop().unwrap();
    second.verify_standard(&new).unwrap();
    second.verify_standard(&old).unwrap();
    second.verify_hook(&new, thorn::Digest::Sha256).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_describes_every_route() {
    let http = api(&[]).await;
    let doc = http
        .call(Method::GET, "/hooks/openapi.json", None, None)
        .await;
    assert_eq!(doc.status, StatusCode::OK);
    let doc = doc.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/", vec!["get", "post"]),
        ("/{id}", vec!["get", "patch", "delete"]),
        ("/{id}/rotate-secret", vec!["post"]),
        ("/{id}/test", vec!["post"]),
    ] {
        for m in methods {
            assert!(paths[path].get(m).is_some(), "{m} {path}");
        }
    }
    assert!(doc["components"]["schemas"].get("Problem").is_some());
}

/// The API under the default recipient policy (no loopback).
async fn strict_api() -> Http {
    let thorn = Thorn::new(Config::default(), &thorn::registry()).unwrap();
    let app = axum::Router::new().nest("/hooks", thorn_axum::subscriptions(thorn).unwrap());
    Http::new(serve(with_owner_header(app)).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_to_an_internal_name_does_not_say_where_it_points() {
    let http = strict_api().await;
    // A name the policy cannot judge until it is resolved (to loopback).
    let made = create(
        &http,
        "mallory",
        json!({"event": "a.*", "url": "http://localhost./probe"}),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let id = made.json()["id"].as_str().unwrap().to_owned();
    let tested = http
        .call(
            Method::POST,
            &format!("/hooks/{id}/test"),
            Some("mallory"),
            None,
        )
        .await;
    assert_eq!(tested.status, StatusCode::OK, "{tested:?}");
    let outcome = tested.json();
    assert_eq!(
        outcome["error"], "the target is not allowed or not reachable",
        "{outcome}"
    );
    let text = String::from_utf8_lossy(&tested.body);
    for detail in ["127.0.0.1", "resolved", "refused", "dns"] {
        assert!(!text.contains(detail), "{detail} in {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_url_is_named_without_its_token() {
    let http = strict_api().await;
    for url in [
        "https://10.1.2.3/hooks?token=SeCrEtToKeN",
        "ftp://example.com/hooks?token=SeCrEtToKeN",
        "http://[::1/hooks?token=SeCrEtToKeN",
    ] {
        let answer = create(&http, "mallory", json!({"event": "a.*", "url": url})).await;
        is_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY);
        let text = String::from_utf8_lossy(&answer.body);
        assert!(!text.contains("SeCrEtToKeN"), "{text}");
        assert!(text.contains("/hooks"), "the URL is still named: {text}");
    }
    let made = create(
        &http,
        "mallory",
        json!({"event": "a.*", "url": "https://hooks.example.com/x"}),
    )
    .await;
    let id = made.json()["id"].as_str().unwrap().to_owned();
    let patched = http
        .call(
            Method::PATCH,
            &format!("/hooks/{id}"),
            Some("mallory"),
            Some(json!({"url": "https://192.168.1.1/x?token=SeCrEtToKeN"})),
        )
        .await;
    is_problem(&patched, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!String::from_utf8_lossy(&patched.body).contains("SeCrEtToKeN"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_says_what_the_validation_refuses() {
    let http = api(&[]).await;
    let doc = http
        .call(Method::GET, "/hooks/openapi.json", None, None)
        .await
        .json();
    let schemas = &doc["components"]["schemas"];
    let new = &schemas["CreateSubscription"]["properties"];
    let update = &schemas["UpdateSubscription"]["properties"];
    assert_eq!(new["signer"]["enum"], json!(["hmac", "compat"]));
    assert_eq!(new["digest"]["enum"], json!(["sha256", "sha1", "sha512"]));
    assert_eq!(
        update["content_type"]["enum"],
        json!([
            "application/json",
            "application/x-www-form-urlencoded",
            "json",
            "form"
        ])
    );
    for url in [&new["url"], &update["url"]] {
        assert_eq!(url["minLength"], 1, "{url}");
        assert_eq!(url["format"], "uri", "{url}");
    }
    let list = &doc["paths"]["/"]["get"]["parameters"];
    let event = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "event")
        .unwrap();
    assert_eq!(event["schema"]["minLength"], 1, "{event}");

    // The patterns say what the core's checks say, value by value.
    let name_re = regex::Regex::new(event["schema"]["pattern"].as_str().unwrap()).unwrap();
    let pattern_re = regex::Regex::new(new["event"]["pattern"].as_str().unwrap()).unwrap();
    for text in [
        "", "a", "a.b", "a..b", ".a", "a.", "*", "a.*", "*.b", "a*", "a.*b", "é", "a b", "A-b_9.c",
        "a.*.c", "**",
    ] {
        assert_eq!(
            name_re.is_match(text),
            thorn::EventName::new(text).is_ok(),
            "event name {text:?}"
        );
        assert_eq!(
            pattern_re.is_match(text),
            thorn::Pattern::new(text).is_ok(),
            "pattern {text:?}"
        );
    }

    // What the document now refuses, the API refused all along.
    let refused = http
        .call(Method::GET, "/hooks?event=", Some("alice"), None)
        .await;
    is_problem(&refused, StatusCode::BAD_REQUEST);
    let made = create(
        &http,
        "alice",
        json!({"event": "a.*", "url": "https://hooks.example.com/a", "signer": ""}),
    )
    .await;
    is_problem(&made, StatusCode::UNPROCESSABLE_ENTITY);
}

/// The limits of a view: `rate_limit`, `max_in_flight`, `ordered`.
fn limits(view: &Value) -> (Value, Value, Value) {
    (
        view["rate_limit"].clone(),
        view["max_in_flight"].clone(),
        view["ordered"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_created_shown_changed_and_removed() {
    let http = api(&[]).await;
    let made = create(
        &http,
        "alice",
        json!({
            "event": "order.*",
            "url": "https://hooks.example.com/orders",
            "rate_limit": {"per_second": 10, "burst": 5},
            "max_in_flight": 3,
            "ordered": true,
        }),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let expected = (json!({"per_second": 10, "burst": 5}), json!(3), json!(true));
    assert_eq!(limits(&made.json()), expected);
    let id = made.json()["id"].as_str().unwrap().to_owned();
    let path = format!("/hooks/{id}");
    let shown = http.call(Method::GET, &path, Some("alice"), None).await;
    assert_eq!(limits(&shown.json()), expected);
    let listed = http.call(Method::GET, "/hooks", Some("alice"), None).await;
    assert_eq!(limits(&listed.json()["items"][0]), expected);

    // Without limits, each is shown as none; a burst not given is the rate.
    let plain = create(
        &http,
        "alice",
        json!({"event": "a.*", "url": "https://hooks.example.com/a"}),
    )
    .await
    .json();
    assert_eq!(
        limits(&plain),
        (Value::Null, Value::Null, json!(false)),
        "{plain}"
    );
    let paced = create(
        &http,
        "alice",
        json!({"event": "b.*", "url": "https://hooks.example.com/b", "rate_limit": {"per_second": 4}}),
    )
    .await
    .json();
    assert_eq!(paced["rate_limit"], json!({"per_second": 4, "burst": 4}));

    // A PATCH changes what it names and keeps the rest; null removes.
    let patch = |body: Value| http.call(Method::PATCH, &path, Some("alice"), Some(body));
    let changed =
        patch(json!({"rate_limit": {"per_second": 20, "burst": 2}, "ordered": false})).await;
    assert_eq!(changed.status, StatusCode::OK, "{changed:?}");
    assert_eq!(
        limits(&changed.json()),
        (
            json!({"per_second": 20, "burst": 2}),
            json!(3),
            json!(false)
        )
    );
    let unchanged = patch(json!({"enabled": false})).await.json();
    assert_eq!(
        limits(&unchanged),
        (
            json!({"per_second": 20, "burst": 2}),
            json!(3),
            json!(false)
        )
    );
    let removed = patch(json!({"rate_limit": null, "max_in_flight": null})).await;
    assert_eq!(removed.status, StatusCode::OK, "{removed:?}");
    assert_eq!(
        limits(&removed.json()),
        (Value::Null, Value::Null, json!(false))
    );
    let capped = patch(json!({"max_in_flight": 4294967295u32, "ordered": true})).await;
    assert_eq!(
        limits(&capped.json()),
        (Value::Null, json!(4294967295u32), json!(true))
    );
    let shown = http
        .call(Method::GET, &path, Some("alice"), None)
        .await
        .json();
    assert_eq!(
        limits(&shown),
        (Value::Null, json!(4294967295u32), json!(true))
    );
    assert_eq!(shown["enabled"], false, "the earlier change is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_limits_are_refused_naming_the_field() {
    let http = api(&[]).await;
    let made = create(
        &http,
        "alice",
        json!({"event": "a.*", "url": "https://example.com/", "rate_limit": {"per_second": 2}, "max_in_flight": 1}),
    )
    .await;
    assert_eq!(made.status, StatusCode::CREATED, "{made:?}");
    let path = format!("/hooks/{}", made.json()["id"].as_str().unwrap());
    for (limits, field) in [
        (
            json!({"rate_limit": {"per_second": 0}}),
            "rate_limit.per_second",
        ),
        (
            json!({"rate_limit": {"per_second": -1, "burst": 3}}),
            "rate_limit.per_second",
        ),
        (
            json!({"rate_limit": {"per_second": 5, "burst": 0}}),
            "rate_limit.burst",
        ),
        (
            json!({"rate_limit": {"per_second": 5, "burst": -2}}),
            "rate_limit.burst",
        ),
        (json!({"rate_limit": {"burst": 5}}), "rate_limit.per_second"),
        (json!({"rate_limit": {}}), "rate_limit.per_second"),
        (json!({"max_in_flight": 0}), "max_in_flight"),
        (json!({"max_in_flight": -3}), "max_in_flight"),
        (json!({"max_in_flight": 4294967296u64}), "max_in_flight"),
    ] {
        let mut new = json!({"event": "a.*", "url": "https://example.com/"});
        new.as_object_mut()
            .unwrap()
            .extend(limits.as_object().unwrap().clone());
        let created = create(&http, "alice", new).await;
        let patched = http
            .call(Method::PATCH, &path, Some("alice"), Some(limits.clone()))
            .await;
        for answer in [created, patched] {
            is_problem(&answer, StatusCode::UNPROCESSABLE_ENTITY);
            let p = answer.json();
            assert_eq!(p["field"], field, "{limits}: {p}");
            assert!(p["detail"].as_str().unwrap().contains(field), "{p}");
        }
    }
    // Nothing refused was kept.
    let listed = http.call(Method::GET, "/hooks", Some("alice"), None).await;
    let items = listed.json()["items"].clone();
    assert_eq!(items.as_array().unwrap().len(), 1, "{items}");
    assert_eq!(
        limits(&items[0]),
        (json!({"per_second": 2, "burst": 2}), json!(1), json!(false))
    );
    // An unknown field of a rate limit is refused too.
    let unknown = http
        .call(
            Method::PATCH,
            &path,
            Some("alice"),
            Some(json!({"rate_limit": {"per_second": 2, "per_minute": 60}})),
        )
        .await;
    is_problem(&unknown, StatusCode::UNPROCESSABLE_ENTITY);

    // The document says what is refused.
    let doc = http
        .call(Method::GET, "/hooks/openapi.json", None, None)
        .await
        .json();
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [
        ("CreateSubscription", "max_in_flight"),
        ("UpdateSubscription", "max_in_flight"),
        ("SubscriptionView", "max_in_flight"),
        ("RateLimitInput", "per_second"),
        ("RateLimitInput", "burst"),
        ("RateLimitView", "per_second"),
        ("RateLimitView", "burst"),
    ] {
        let property = &schemas[schema]["properties"][field];
        assert_eq!(property["minimum"], 1, "{schema}.{field}: {property}");
        assert_eq!(
            property["maximum"],
            u64::from(u32::MAX),
            "{schema}.{field}: {property}"
        );
    }
    assert_eq!(schemas["RateLimitInput"]["required"], json!(["per_second"]));
}
