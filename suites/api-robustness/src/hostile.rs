//! Hostile requests to every route of both services, each one invalid by construction (so every
//! answer must be a 4xx with a JSON error), as proptest strategies and a hand-picked list.
//!
//! A request is made invalid in exactly one way, chosen from: a path parameter outside its route's
//! grammar (SQL injection, traversal, huge numbers, invalid UTF-8 percent-escapes, long strings);
//! a bad, unknown or repeated query parameter; a method the route does not have; a path no route
//! has; and for the POST routes a bad body (wrong types, missing or extra fields, out-of-range and
//! huge numbers, huge strings, invalid UTF-8, truncated JSON, the wrong content type, duplicate
//! keys) or, for the webhook, a missing, forged or stale signature or a signed non-event.

use proptest::prelude::*;

use crate::raw::RawRequest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Indexer,
    Payments,
}

/// What a route's path parameter must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// A positive u64 (robot and item ids).
    PositiveId,
    /// `0x` and 40 hex digits.
    Address,
    /// 32 hex digits.
    PurchaseId,
    /// 1 to 64 of `[A-Za-z0-9_-]`.
    PlayerId,
}

impl Param {
    pub fn accepts(self, s: &str) -> bool {
        match self {
            Param::PositiveId => s.parse::<u64>().is_ok_and(|n| n > 0),
            Param::Address => s.len() == 42 && s.starts_with("0x") && s[2..].chars().all(|c| c.is_ascii_hexdigit()),
            Param::PurchaseId => s.len() == 32 && s.chars().all(|c| c.is_ascii_hexdigit()),
            Param::PlayerId => !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
        }
    }

    /// A valid value, for requests made invalid elsewhere.
    pub fn valid(self) -> &'static str {
        match self {
            Param::PositiveId => "1",
            Param::Address => "0x70997970c51812dc3a010c7d01b50e0d17dc79c8",
            Param::PurchaseId => "0123456789abcdef0123456789abcdef",
            Param::PlayerId => "fuzz_player",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Purchase,
    Spend,
    Webhook,
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub service: Service,
    pub method: &'static str,
    /// The path with `{}` where the parameter goes.
    pub template: &'static str,
    pub param: Option<Param>,
    /// The query parameters the route takes (the indexer refuses any other).
    pub query: &'static [&'static str],
    /// A valid query, for routes that require one.
    pub valid_query: &'static str,
    pub body: Option<BodyKind>,
}

const fn get(service: Service, template: &'static str, param: Option<Param>, query: &'static [&'static str]) -> Route {
    Route { service, method: "GET", template, param, query, valid_query: "", body: None }
}

/// Every route of both services.
pub const ROUTES: &[Route] = &[
    get(Service::Indexer, "/robots", None, &["at"]),
    get(Service::Indexer, "/robots/{}", Some(Param::PositiveId), &["at"]),
    get(Service::Indexer, "/items", None, &["at"]),
    get(Service::Indexer, "/items/{}", Some(Param::PositiveId), &["at"]),
    get(Service::Indexer, "/owners/{}/items", Some(Param::Address), &["at"]),
    get(Service::Indexer, "/owners/{}/balance", Some(Param::Address), &["at"]),
    get(Service::Indexer, "/players", None, &["at"]),
    Route { service: Service::Indexer, method: "GET", template: "/events", param: None, query: &["from", "to", "limit"], valid_query: "from=0&to=1", body: None },
    get(Service::Indexer, "/status", None, &[]),
    get(Service::Indexer, "/health", None, &[]),
    get(Service::Indexer, "/metrics", None, &[]),
    Route { service: Service::Payments, method: "POST", template: "/purchases", param: None, query: &[], valid_query: "", body: Some(BodyKind::Purchase) },
    get(Service::Payments, "/purchases/{}", Some(Param::PurchaseId), &[]),
    get(Service::Payments, "/players/{}/balance", Some(Param::PlayerId), &[]),
    get(Service::Payments, "/players/{}/history", Some(Param::PlayerId), &[]),
    Route { service: Service::Payments, method: "POST", template: "/players/{}/spend", param: Some(Param::PlayerId), query: &[], valid_query: "", body: Some(BodyKind::Spend) },
    Route { service: Service::Payments, method: "POST", template: "/webhooks/stripe", param: None, query: &[], valid_query: "", body: Some(BodyKind::Webhook) },
    get(Service::Payments, "/health", None, &[]),
    get(Service::Payments, "/metrics", None, &[]),
];

impl Route {
    pub fn name(&self) -> String {
        format!("{} {}", self.method, self.template.replace("{}", &format!("{{{}}}", self.param.map_or("", param_name))))
    }

    fn path(&self, segment: &str) -> String {
        self.template.replace("{}", segment)
    }

    fn valid_path(&self) -> String {
        self.path(self.param.map_or("", Param::valid))
    }

    fn with_query(&self, path: String, query: &str) -> Vec<u8> {
        if query.is_empty() { path.into_bytes() } else { format!("{path}?{query}").into_bytes() }
    }
}

fn param_name(p: Param) -> &'static str {
    match p {
        Param::PositiveId => "id",
        Param::Address => "address",
        Param::PurchaseId => "id",
        Param::PlayerId => "id",
    }
}

/// Whether a path (no query) is one some route serves, parameters taken as any segment.
pub fn matches_a_route(path: &str) -> bool {
    let segs: Vec<&str> = path.split('/').collect();
    ROUTES.iter().any(|r| {
        let t: Vec<&str> = r.template.split('/').collect();
        t.len() == segs.len() && t.iter().zip(&segs).all(|(t, s)| if *t == "{}" { !s.is_empty() } else { t == s })
    })
}

/// A request and the route it was aimed at (`None`: an unknown route).
#[derive(Debug, Clone)]
pub struct Hostile {
    pub service: Service,
    pub route: Option<String>,
    /// How it was made invalid, for the tally and for failure messages.
    pub kind: &'static str,
    pub request: RawRequest,
}

/// Percent-encodes everything but unreserved characters, as a client would.
pub fn encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

fn hostile_strings() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("1' OR '1'='1".to_string()),
        Just("1; DROP TABLE robots; --".to_string()),
        Just("' UNION SELECT * FROM ledger --".to_string()),
        Just("../../../../etc/passwd".to_string()),
        Just("..".to_string()),
        Just("%00".to_string()),
        Just("\u{0}".to_string()),
        Just("18446744073709551616".to_string()),
        Just("99999999999999999999999999999999999999".to_string()),
        Just("-1".to_string()),
        Just("0".to_string()),
        Just("1.5".to_string()),
        Just("1e9".to_string()),
        Just("0x".to_string()),
        Just("NaN".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        Just("{\"$gt\": \"\"}".to_string()),
        Just("<script>alert(1)</script>".to_string()),
        Just("robot\r\nX-Injected: 1".to_string()),
        Just("😀".to_string()),
        Just("ａｂｃ".to_string()),
        "[0-9]{21,40}".prop_map(|s| s),
        "-[0-9]{1,20}".prop_map(|s| s),
        "\\PC{1,80}",
        "[a-zA-Z0-9_-]{65,400}",
        "0x[0-9a-f]{0,39}",
        "0x[0-9a-f]{41,64}",
        "0x[g-z]{40}",
        "[0-9a-f]{31}",
        "[0-9a-f]{33,40}",
        "[0-9a-f]{31}[g-z]",
        (1usize..20_000).prop_map(|n| "9".repeat(n)),
    ]
}

fn bad_segment(p: Param) -> impl Strategy<Value = String> {
    hostile_strings().prop_filter("must be invalid for the route", move |s| !p.accepts(s) && !s.is_empty())
}

fn bad_query(route: Route) -> impl Strategy<Value = (String, &'static str)> {
    let allowed = route.query;
    let first = allowed.first().copied().unwrap_or("at");
    let valid = route.valid_query;
    let join = move |extra: String| if valid.is_empty() { extra } else { format!("{valid}&{extra}") };
    prop_oneof![
        "[a-z_]{1,12}".prop_filter("not a parameter the route takes", move |k| !allowed.contains(&k.as_str())).prop_map(move |k| (join(format!("{k}=1")), "unknown query parameter")),
        hostile_strings().prop_filter("not a block number", |v| v.parse::<u64>().is_err()).prop_map(move |v| (join(format!("{first}={}", encode(&v))), "bad query value")),
        (0u64..1000, 0u64..1000).prop_map(move |(a, b)| (join(format!("{first}={a}&{first}={b}")), "repeated query parameter")),
        Just((join(format!("{first}=%FF%FE")), "query not UTF-8")),
        Just((join(format!("{first}=")), "empty query value")),
        Just((join(format!("{first}=%")), "broken percent escape")),
    ]
}

fn bad_events_query() -> impl Strategy<Value = (String, &'static str)> {
    prop_oneof![
        (1u64..u64::MAX).prop_map(|from| (format!("from={from}&to={}", from - 1), "from after to")),
        (0u64..1_000_000).prop_map(|from| (format!("from={from}&to={}", from + 10_000), "range too long")),
        Just(("from=0&to=1&limit=0".to_string(), "limit zero")),
        (10_001u64..u64::MAX).prop_map(|l| (format!("from=0&to=1&limit={l}"), "limit too large")),
        Just(("to=1".to_string(), "missing from")),
        Just(("from=1".to_string(), "missing to")),
        Just(("".to_string(), "missing from and to")),
    ]
}

const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "FOO", "get", "PROPFIND"];

fn json_body_mutation(kind: BodyKind) -> impl Strategy<Value = (Vec<u8>, &'static str)> {
    let valid = match kind {
        BodyKind::Purchase => r#"{"player_id":"fuzz_player","credits":500}"#,
        _ => r#"{"credits":5}"#,
    };
    let credits_field = "credits";
    let other: Vec<(&'static str, &'static str)> = if kind == BodyKind::Purchase { vec![("player_id", "\"fuzz_player\"")] } else { vec![] };
    let with_credits = move |v: String| {
        let mut fields: Vec<String> = other.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        fields.push(format!("\"{credits_field}\":{v}"));
        format!("{{{}}}", fields.join(",")).into_bytes()
    };
    let (w1, w2, w3) = (with_credits.clone(), with_credits.clone(), with_credits);
    let strategies: Vec<BoxedStrategy<(Vec<u8>, &'static str)>> = vec![
        prop_oneof![Just("\"500\""), Just("5.5"), Just("true"), Just("null"), Just("[500]"), Just("{\"n\":500}"), Just("\"\"")]
            .prop_map(move |v| (w1(v.to_string()), "credits of the wrong type"))
            .boxed(),
        prop_oneof![
            Just("0".to_string()),
            Just("-1".to_string()),
            Just("9223372036854775807".to_string()),
            Just("-9223372036854775808".to_string()),
            Just("9223372036854775808".to_string()),
            Just("1e30".to_string()),
            Just("1e400".to_string()),
            "[0-9]{20,400}".prop_map(|s| format!("1{s}")),
            (i64::MIN..=0).prop_map(|n| n.to_string()),
        ]
        .prop_filter("out of range for the route", move |v| match kind {
            BodyKind::Purchase => !v.parse::<i64>().is_ok_and(|n| (100..=100_000).contains(&n)),
            _ => !v.parse::<i64>().is_ok_and(|n| n > 0),
        })
        .prop_map(move |v| (w2(v), "credits out of range"))
        .boxed(),
        Just((b"{}".to_vec(), "missing fields")).boxed(),
        Just((format!("{},\"bonus\":1}}", &valid[..valid.len() - 1]).into_bytes(), "an extra field")).boxed(),
        Just((format!("{},\"credits\":7}}", &valid[..valid.len() - 1]).into_bytes(), "a duplicate key")).boxed(),
        (1usize..valid.len()).prop_map(move |n| (valid.as_bytes()[..n].to_vec(), "truncated JSON")).boxed(),
        prop_oneof![Just("[]"), Just("500"), Just("\"x\""), Just("null"), Just("")].prop_map(|b| (b.as_bytes().to_vec(), "not an object")).boxed(),
        proptest::collection::vec(any::<u8>(), 1..200).prop_filter("not valid UTF-8", |b| std::str::from_utf8(b).is_err()).prop_map(|b| (b, "invalid UTF-8")).boxed(),
        Just((vec![0xff, 0xfe, b'{', b'}'], "invalid UTF-8")).boxed(),
        (0usize..3).prop_map(move |i| (w3(["\"\\ud800\"", "\"\\u0000\"", "\"\\x41\""][i].to_string()), "bad string escape")).boxed(),
    ];
    let mut strategies = strategies;
    if kind == BodyKind::Purchase {
        strategies.push(
            prop_oneof![(65usize..200_000).prop_map(|n| "p".repeat(n)), Just(String::new()), Just("../../etc".to_string()), Just("1' OR '1'='1".to_string()), Just("player\u{0}".to_string()),]
                .prop_map(|p| (format!("{{\"player_id\":{},\"credits\":500}}", serde_json::Value::String(p)).into_bytes(), "bad player id"))
                .boxed(),
        );
        strategies.push(Just((br#"{"player_id":7,"credits":500}"#.to_vec(), "player id of the wrong type")).boxed());
    }
    proptest::strategy::Union::new(strategies)
}

/// What a request's content type says, when it is not JSON.
fn wrong_content_type() -> impl Strategy<Value = Option<&'static str>> {
    prop_oneof![Just(None), Just(Some("text/plain")), Just(Some("application/x-www-form-urlencoded")), Just(Some("application/xml")), Just(Some("multipart/form-data; boundary=x")), Just(Some("json"))]
}

fn bad_body(route: Route) -> BoxedStrategy<Hostile> {
    let kind = route.body.expect("a POST route");
    let path = route.valid_path();
    let service = route.service;
    let name = route.name();
    if kind == BodyKind::Webhook {
        return bad_webhook(path, name).boxed();
    }
    let valid: &'static [u8] = if kind == BodyKind::Purchase { br#"{"player_id":"fuzz_player","credits":500}"# } else { br#"{"credits":5}"# };
    let (p1, n1) = (path.clone(), name.clone());
    prop_oneof![
        4 => json_body_mutation(kind).prop_map(move |(body, what)| Hostile { service, route: Some(name.clone()), kind: what, request: RawRequest::new("POST", path.clone()).json(body) }),
        1 => wrong_content_type().prop_map(move |ct| {
            let mut r = RawRequest::new("POST", p1.clone()).body(valid);
            if let Some(ct) = ct {
                r = r.header("Content-Type", ct);
            }
            Hostile { service, route: Some(n1.clone()), kind: "wrong content type", request: r }
        }),
    ]
    .boxed()
}

/// The webhook secret of the MVE stack: a signature made with it is genuine.
pub const WEBHOOK_SECRET: &str = harness::mve::system::WEBHOOK_SECRET;

fn bad_webhook(path: String, name: String) -> impl Strategy<Value = Hostile> {
    let event = |id: u32| {
        format!(
            r#"{{"id":"evt_fuzz_{id}","object":"event","type":"payment_intent.succeeded","livemode":false,"created":1,"data":{{"object":{{"id":"pi_fuzz","object":"payment_intent","amount":500,"metadata":{{"purchase_id":"0123456789abcdef0123456789abcdef"}}}}}}}}"#
        )
    };
    prop_oneof![
        any::<u32>().prop_map(move |id| (event(id), None, "no signature")),
        (any::<u32>(), "[ -~]{0,120}").prop_map(move |(id, sig)| (event(id), Some(sig), "garbage signature")),
        any::<u32>().prop_map(move |id| {
            let e = event(id);
            let s = harness::stripe::header("whsec_wrong", harness::stripe::now(), &e);
            (e, Some(s), "signed with another secret")
        }),
        (any::<u32>(), 400i64..100_000).prop_map(move |(id, age)| {
            let e = event(id);
            let s = harness::stripe::header(WEBHOOK_SECRET, harness::stripe::now() - age, &e);
            (e, Some(s), "stale signature")
        }),
        any::<u32>().prop_map(move |id| {
            let e = event(id);
            let s = harness::stripe::header(WEBHOOK_SECRET, harness::stripe::now(), &e);
            (format!("{e} "), Some(s), "body changed after signing")
        }),
        prop_oneof![Just("{"), Just("[]"), Just("{\"id\":1}"), Just("null"), Just("{\"object\":\"event\"}")].prop_map(|b| {
            let s = harness::stripe::header(WEBHOOK_SECRET, harness::stripe::now(), b);
            (b.to_string(), Some(s), "signed, but not an event")
        }),
    ]
    .prop_map(move |(body, sig, what)| {
        let mut r = RawRequest::new("POST", path.clone()).json(body);
        if let Some(s) = sig {
            r = r.header("Stripe-Signature", s);
        }
        Hostile { service: Service::Payments, route: Some(name.clone()), kind: what, request: r }
    })
}

fn unknown_route(service: Service) -> impl Strategy<Value = Hostile> {
    prop_oneof![
        proptest::collection::vec("[a-zA-Z0-9._~-]{1,12}", 1..5).prop_map(|segs| format!("/{}", segs.join("/"))),
        prop_oneof![
            Just("/"),
            Just("//robots"),
            Just("/robots/"),
            Just("/robots/1/2"),
            Just("/ROBOTS"),
            Just("/robot"),
            Just("/purchases/"),
            Just("/../../etc/passwd"),
            Just("/%2e%2e/%2e%2e/etc/passwd"),
            Just("/robots/..%2f..%2fetc"),
            Just("/webhooks"),
            Just("/players"),
            Just("/players/x"),
            Just("/players/x/balance/1"),
            Just("/admin"),
            Just("/.env"),
            Just("/metrics/"),
            Just("/health/x"),
        ]
        .prop_map(str::to_string),
        (200usize..8_000).prop_map(|n| format!("/{}", "a".repeat(n))),
    ]
    .prop_filter("not a route", |p| !matches_a_route(p))
    .prop_map(move |p| Hostile { service, route: None, kind: "unknown route", request: RawRequest::new("GET", p) })
}

/// The route's hostile requests, with how many ways it has (its weight in [`any_hostile`]).
fn route_strategy(route: Route) -> (u32, BoxedStrategy<Hostile>) {
    let service = route.service;
    let name = route.name();
    let mut options: Vec<BoxedStrategy<Hostile>> = Vec::new();
    if let Some(p) = route.param {
        let (n, r) = (name.clone(), route);
        options.push(
            bad_segment(p)
                .prop_map(move |s| Hostile {
                    service,
                    route: Some(n.clone()),
                    kind: "bad path parameter",
                    request: RawRequest::new(r.method, r.path(&encode(&s))).body(if r.body.is_some() { b"{\"credits\":5}".to_vec() } else { Vec::new() }),
                })
                .boxed(),
        );
        let (n, r) = (name.clone(), route);
        options.push(
            prop_oneof![Just("%FF"), Just("%C0%AF"), Just("%ED%A0%80"), Just("abc%FFdef")]
                .prop_map(move |s| Hostile { service, route: Some(n.clone()), kind: "path parameter not UTF-8", request: RawRequest::new(r.method, r.path(s)) })
                .boxed(),
        );
    }
    if !route.query.is_empty() {
        let (n, r) = (name.clone(), route);
        options.push(bad_query(route).prop_map(move |(q, what)| Hostile { service, route: Some(n.clone()), kind: what, request: RawRequest::new("GET", r.with_query(r.valid_path(), &q)) }).boxed());
    }
    if route.template == "/events" {
        let (n, r) = (name.clone(), route);
        options.push(bad_events_query().prop_map(move |(q, what)| Hostile { service, route: Some(n.clone()), kind: what, request: RawRequest::new("GET", r.with_query(r.valid_path(), &q)) }).boxed());
    }
    if route.body.is_some() {
        options.push(bad_body(route));
    }
    let (n, r) = (name, route);
    // A wrong method is one way among several: weighted down, or it would be half of all requests.
    let weighted: Vec<(u32, BoxedStrategy<Hostile>)> = options.into_iter().map(|o| (3, o)).collect();
    let mut options = weighted;
    options.push((
        1,
        proptest::sample::select(METHODS)
            .prop_filter("another method", move |m| *m != r.method)
            .prop_map(move |m| Hostile { service, route: Some(n.clone()), kind: "wrong method", request: RawRequest::new(m, r.with_query(r.valid_path(), r.valid_query)) })
            .boxed(),
    ));
    let ways = options.len() as u32;
    (ways, proptest::strategy::Union::new_weighted(options).boxed())
}

/// Any hostile request to either service.
pub fn any_hostile() -> impl Strategy<Value = Hostile> {
    let mut options: Vec<(u32, BoxedStrategy<Hostile>)> = ROUTES.iter().map(|r| route_strategy(*r)).collect();
    options.push((1, unknown_route(Service::Indexer).boxed()));
    options.push((1, unknown_route(Service::Payments).boxed()));
    proptest::strategy::Union::new_weighted(options)
}

/// What a hand-picked request must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// A 4xx with a JSON error body.
    JsonError,
    /// Refused by the HTTP layer before any route: this status, the body may be empty.
    Protocol(u16),
    /// Refused by the HTTP layer or a route: any 4xx, the body may be empty.
    AnyClientError,
}

/// Requests a generator would rarely build: protocol-level damage and the limits.
pub fn hand_picked() -> Vec<(Service, &'static str, RawRequest, Expect)> {
    let mut out = Vec::new();
    for service in [Service::Indexer, Service::Payments] {
        let probe = if service == Service::Indexer { "/robots/1" } else { "/players/p/balance" };
        out.push((service, "raw invalid UTF-8 in the path", RawRequest::new("GET", b"/robots/\xff\xfe".to_vec()), Expect::Protocol(400)));
        out.push((service, "a space in the path", RawRequest::new("GET", "/robots/1 2"), Expect::Protocol(400)));
        out.push((service, "headers larger than any limit", RawRequest::new("GET", probe).header("X-Big", "a".repeat(512 * 1024)), Expect::Protocol(431)));
        out.push((service, "a header without a colon", RawRequest::new("GET", probe).header("Broken\r\nNoColon", "x"), Expect::Protocol(400)));
        out.push((service, "a control byte in a header value", RawRequest::new("GET", probe).header("X-Bad", b"a\x01b".to_vec()), Expect::Protocol(400)));
        out.push((service, "two different Content-Lengths", RawRequest::new("POST", "/purchases").header("Content-Length", "2").header("Content-Length", "3").body("{}"), Expect::Protocol(400)));
        out.push((service, "a non-numeric Content-Length", RawRequest::new("POST", "/purchases").header("Content-Length", "abc").body("{}"), Expect::Protocol(400)));
        out.push((service, "an unknown transfer encoding", RawRequest::new("POST", "/purchases").header("Transfer-Encoding", "gzip").body("{}"), Expect::Protocol(400)));
        out.push((service, "a body far over the limit", RawRequest::new("POST", "/purchases").json(vec![b' '; 2 * 1024 * 1024]), Expect::JsonError));
        out.push((
            service,
            "a declared length far over the limit",
            RawRequest::new("POST", "/purchases").header("Content-Type", "application/json").header("Content-Length", "1000000000"),
            Expect::JsonError,
        ));
        out.push((
            service,
            "a chunked body over the limit",
            RawRequest::new("POST", "/purchases").header("Content-Type", "application/json").header("Transfer-Encoding", "chunked").body(chunked(&vec![b' '; 600 * 1024])),
            Expect::JsonError,
        ));
        out.push((service, "HTTP/2 preface on an HTTP/1.1 port", RawRequest::new("PRI", "*").body(b"SM\r\n\r\n".to_vec()), Expect::AnyClientError));
    }
    out.push((
        Service::Payments,
        "repeated Stripe-Signature headers, one forged",
        RawRequest::new("POST", "/webhooks/stripe").json("{}").header("Stripe-Signature", "t=1,v1=00").header("Stripe-Signature", "t=2,v1=11"),
        Expect::JsonError,
    ));
    out.push((
        Service::Payments,
        "a purchase with two Content-Types",
        RawRequest::new("POST", "/purchases").header("Content-Type", "text/plain").header("Content-Type", "application/json").body(r#"{"player_id":"fuzz_player","credits":500}"#),
        Expect::JsonError,
    ));
    out
}

fn chunked(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in body.chunks(16 * 1024) {
        out.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        out.extend_from_slice(c);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_grammar() {
        assert!(matches_a_route("/robots/abc") && matches_a_route("/players/x/spend") && !matches_a_route("/robots/") && !matches_a_route("//robots"));
        assert!(Param::PlayerId.accepts("a-b_9") && !Param::PlayerId.accepts(&"p".repeat(65)) && !Param::PositiveId.accepts("0"));
        for r in ROUTES {
            if let Some(p) = r.param {
                assert!(p.accepts(p.valid()), "{}", r.name());
            }
        }
    }

    #[test]
    fn generated_requests_are_invalid_by_construction() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        for _ in 0..2_000 {
            let h = any_hostile().new_tree(&mut runner).unwrap().current();
            let target = String::from_utf8_lossy(&h.request.target).to_string();
            let path = target.split('?').next().unwrap_or_default();
            if h.route.is_none() {
                assert!(!matches_a_route(path), "{path}");
            }
        }
    }
}
