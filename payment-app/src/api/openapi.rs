//! The OpenAPI 3.1 document of the v1 API, served at
//! `GET /api/v1/openapi.json` without a token and committed as
//! `docs/openapi.json`.
//!
//! It is derived, never written by hand: each handler carries its
//! `#[utoipa::path]` (route, parameters, body, its own answers), the bodies
//! are the very types the handlers serialize (`ToSchema` beside `Serialize`),
//! and the error code enum is `ErrorCode` itself. What every route shares
//! is added here, once: the bearer scheme, and the error answers of the
//! layers in front of the handlers (token, scope, rate, body limits, the
//! in-flight cap, the request timeout), each status described by the codes
//! `ErrorCode::status` gives it. Tests hold the rest: the committed file is
//! this document, and every route of `router` is in it.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::error::{ErrorBody, ErrorCode};
use super::{
    accounts, batch, entries, events, ledger, payments, ready, refunds, search, statements, webhooks,
};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "payrail",
        description = "Payments between accounts: accepted at once (`pending`), settled moments later. \
            Every error answers `{\"error\": {\"code\", \"message\"}}`; branch on `code`."
    ),
    paths(
        accounts::create,
        accounts::get,
        accounts::update,
        search::accounts,
        statements::payments,
        statements::statement,
        entries::list,
        entries::balance_at,
        ledger::head,
        payments::create,
        batch::create,
        payments::get,
        payments::update,
        payments::capture,
        payments::void,
        search::payments,
        refunds::create,
        refunds::list,
        refunds::get,
        events::list,
        events::get,
        webhooks::create,
        webhooks::list,
        webhooks::get,
        webhooks::delete,
        webhooks::rotate_secret,
        webhooks::attempts,
        serve,
        super::healthz,
        ready::readyz,
        super::metrics,
    ),
    components(schemas(ErrorBody, ErrorCode)),
    modifiers(&Shared),
    tags(
        (name = "accounts"),
        (name = "payments"),
        (name = "refunds"),
        (name = "ledger", description = "The hash chain over the ledger: tamper evidence an outside party can check"),
        (name = "events", description = "Every change of a payment or refund, in order; each is also published to the RabbitMQ topic exchange `payrail.events` (routing key = event type, `message_id` = event id), see docs/api.md#events-on-amqp"),
        (name = "webhooks", description = "Endpoints that events are pushed to"),
        (name = "operations", description = "Probes and metrics, without a token. With `OPS_ADDR` set (as the operator's pods have it, port 9090), `/readyz` and `/metrics` are served on that port only, not on the API's"),
    )
)]
struct ApiDoc;

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as `docs/openapi.json` holds it: pretty, with a final newline.
pub fn to_json() -> String {
    let mut text = document().to_pretty_json().expect("an OpenAPI document serializes");
    text.push('\n');
    text
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", operation_id = "getOpenApiDocument", tag = "operations",
    responses((status = 200, description = "This OpenAPI 3.1 document", content_type = "application/json", body = Object)))]
pub async fn serve() -> Response {
    // Built once: the document is the same for the life of the process.
    static JSON: OnceLock<String> = OnceLock::new();
    let text = JSON.get_or_init(to_json).as_str();
    ([(header::CONTENT_TYPE, "application/json")], text).into_response()
}

/// The name of the shared bearer security scheme that operations refer to.
const BEARER: &str = "bearer";

/// What every `/api/v1` route shares; see the module's doc.
#[derive(Debug)]
struct Shared;

impl Modify for Shared {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`Authorization: Bearer <token>`, one of `API_TOKENS`. Scopes: `read` (every GET but the webhook endpoints'), \
                         `pay` (payments, captures, voids, refunds, metadata, accounts without money), \
                         `issue` (an account opened with money), `admin` (webhook endpoints, their GETs too). \
                         Each operation lists the scopes it may need.",
                    ))
                    .build(),
            ),
        );
        for (status, codes) in codes_by_status().into_values() {
            components.responses.insert(response_name(status), RefOr::T(error_response(status, &codes)));
        }
        for (path, item) in doc.paths.paths.iter_mut() {
            if !path.starts_with("/api/v1/") || path == "/api/v1/openapi.json" {
                continue;
            }
            for operation in operations(item) {
                for status in shared_statuses(operation) {
                    operation
                        .responses
                        .responses
                        .entry(status.as_u16().to_string())
                        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(response_name(status))));
                }
            }
        }
    }
}

/// The operations of a path.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// The error statuses an `/api/v1` operation can answer whatever its
/// handler does: the layers in front of it (400 `unreadable_body`, 401,
/// 403, 408, 413, 429, 503), a bug (500); with a body, 415 and 422; with an
/// id in the path, 404. A handler's own 400s (`invalid_id`,
/// `invalid_query`, ...) share the 400.
fn shared_statuses(operation: &Operation) -> Vec<StatusCode> {
    let mut statuses = vec![
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::FORBIDDEN,
        StatusCode::REQUEST_TIMEOUT,
        StatusCode::PAYLOAD_TOO_LARGE,
        StatusCode::TOO_MANY_REQUESTS,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::SERVICE_UNAVAILABLE,
    ];
    if operation.request_body.is_some() {
        statuses.extend([StatusCode::UNSUPPORTED_MEDIA_TYPE, StatusCode::UNPROCESSABLE_ENTITY]);
    }
    let has_path_id =
        operation.parameters.iter().flatten().any(|p| matches!(p.parameter_in, ParameterIn::Path));
    if has_path_id {
        statuses.push(StatusCode::NOT_FOUND);
    }
    statuses
}

/// Every error status with the codes answered with it, from `ErrorCode`.
fn codes_by_status() -> BTreeMap<u16, (StatusCode, Vec<&'static str>)> {
    let mut by_status: BTreeMap<u16, (StatusCode, Vec<&'static str>)> = BTreeMap::new();
    for code in ErrorCode::ALL {
        by_status
            .entry(code.status().as_u16())
            .or_insert_with(|| (code.status(), Vec::new()))
            .1
            .push(code.as_str());
    }
    by_status
}

/// `Error422` and the like: the shared answer of one status.
fn response_name(status: StatusCode) -> String {
    format!("Error{}", status.as_u16())
}

fn error_response(status: StatusCode, codes: &[&str]) -> utoipa::openapi::Response {
    let listed = codes.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", ");
    let reason = status.canonical_reason().unwrap_or("Error");
    let mut response =
        ResponseBuilder::new().description(format!("{reason}: `code` is one of {listed}")).content(
            "application/json",
            ContentBuilder::new().schema(Some(Ref::from_schema_name("Error"))).build(),
        );
    response = match status {
        StatusCode::UNAUTHORIZED => {
            response.header("WWW-Authenticate", HeaderBuilder::new().description(Some("`Bearer`")).build())
        }
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Object::with_type(Type::Integer))
                .description(Some("Seconds to wait before retrying (`rate_limited`, `overloaded`)"))
                .build(),
        ),
        _ => response,
    };
    response.build()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    /// `(METHOD, path)` of every `.route(...)` in the router's source: the
    /// router cannot list its routes, and a route added without its
    /// `#[utoipa::path]` must not go unnoticed.
    fn routed(source: &str) -> BTreeSet<(String, String)> {
        let mut routes = BTreeSet::new();
        for (_, rest) in source.match_indices(".route(").map(|(at, _)| source.split_at(at + 7)) {
            // A path that is not a literal would go unseen: refuse it.
            let rest = rest.trim_start().strip_prefix('"').expect("a route's path is a string literal");
            let (path, rest) = rest.split_once('"').expect("a route's path ends");
            // The method router: up to the `)` that closes `.route(`.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map(|(i, _)| i)
                .expect("a route's call closes");
            let methods = &rest[..end];
            for method in ["get", "post", "put", "patch", "delete"] {
                let called = methods.match_indices(&format!("{method}(")).any(|(i, _)| {
                    i == 0 || !methods[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':')
                });
                if called {
                    routes.insert((method.to_uppercase(), path.to_owned()));
                }
            }
        }
        routes
    }

    fn documented() -> BTreeSet<(String, String)> {
        let mut routes = BTreeSet::new();
        for (path, item) in document().paths.paths {
            let methods = [
                ("GET", item.get.is_some()),
                ("POST", item.post.is_some()),
                ("PUT", item.put.is_some()),
                ("PATCH", item.patch.is_some()),
                ("DELETE", item.delete.is_some()),
            ];
            for (method, present) in methods {
                if present {
                    routes.insert((method.to_owned(), path.clone()));
                }
            }
        }
        routes
    }

    #[test]
    fn every_route_of_the_router_is_documented_and_nothing_else() {
        let routed = routed(include_str!("mod.rs"));
        assert!(routed.contains(&("PATCH".to_owned(), "/api/v1/accounts/{id}".to_owned())), "{routed:?}");
        let documented = documented();
        let missing: Vec<_> = routed.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&routed).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "routes without a #[utoipa::path] listed in ApiDoc: {missing:?}; documented but not routed: {extra:?}"
        );
    }

    #[test]
    fn routes_are_read_with_every_method_of_a_chain() {
        let source = r#".route("/a/{id}", get(x::get).delete(x::delete)).route("/b", post(y::create))"#;
        let expected: BTreeSet<_> = [("GET", "/a/{id}"), ("DELETE", "/a/{id}"), ("POST", "/b")]
            .map(|(m, p)| (m.to_owned(), p.to_owned()))
            .into();
        assert_eq!(routed(source), expected);
    }

    #[test]
    fn operation_ids_are_unique() {
        let mut ids = BTreeSet::new();
        for mut item in document().paths.paths.into_values() {
            for operation in operations(&mut item) {
                let id = operation.operation_id.clone().expect("every operation has an id");
                assert!(ids.insert(id.clone()), "operation id {id} is used twice");
            }
        }
    }

    #[test]
    fn the_committed_document_is_the_generated_one() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json");
        let generated = to_json();
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &generated).expect("docs/openapi.json is written");
            return;
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/openapi.json is stale: run `UPDATE_SNAPSHOTS=1 cargo test -p payment-app --lib openapi` \
             and review the diff"
        );
    }

    #[test]
    fn the_error_code_enum_is_every_code_and_each_status_lists_its_own() {
        let doc = serde_json::to_value(document()).expect("serializes");
        let schemas = &doc["components"]["schemas"];
        let codes: Vec<&str> = schemas["ErrorCode"]["enum"]
            .as_array()
            .expect("an enum")
            .iter()
            .map(|c| c.as_str().expect("a string"))
            .collect();
        assert_eq!(codes, ErrorCode::ALL.map(ErrorCode::as_str));
        let unprocessable =
            doc["components"]["responses"]["Error422"]["description"].as_str().expect("a text");
        assert!(unprocessable.contains("`invalid_amount`") && !unprocessable.contains("`invalid_id`"));
        // A shared answer reaches the operations: the capture's 404 and 422.
        let capture = &doc["paths"]["/api/v1/payment/{id}/capture"]["post"]["responses"];
        assert_eq!(capture["404"]["$ref"], "#/components/responses/Error404");
        assert_eq!(capture["422"]["$ref"], "#/components/responses/Error422");
        assert!(capture["409"]["description"].as_str().expect("its own").contains("invalid_state"));
        assert!(doc["paths"]["/healthz"]["get"]["responses"].get("401").is_none());
    }

    /// Every string a request body carries is as bounded in the document
    /// as the validator bounds it: a pattern, an enum, or a length limit
    /// (the issue-26 fuzzing found `"amount": ""`, `"from_account": ""`
    /// and `"url": ""` valid by the document and refused by the API, since
    /// they were plain strings). `$ref`s are followed; the referenced types
    /// (ids, currencies, metadata) carry their own.
    #[test]
    fn every_string_in_a_request_body_is_bounded() {
        let doc = serde_json::to_value(document()).expect("serializes");
        let schemas = &doc["components"]["schemas"];
        let resolve = |schema: &serde_json::Value| -> serde_json::Value {
            match schema["$ref"].as_str() {
                Some(r) => schemas[r.trim_start_matches("#/components/schemas/")].clone(),
                None => schema.clone(),
            }
        };
        let is_string = |s: &serde_json::Value| {
            s["type"] == "string" || s["type"].as_array().is_some_and(|t| t.iter().any(|t| t == "string"))
        };
        let mut loose = Vec::new();
        for body in [
            "CreatePayment",
            "BatchItem",
            "CreateAccount",
            "CaptureRequest",
            "CreateRefund",
            "CreateEndpoint",
        ] {
            let object = &schemas[body];
            assert_eq!(object["additionalProperties"], false, "{body} refuses unknown fields");
            for (name, property) in object["properties"].as_object().expect("properties") {
                let mut candidates = vec![resolve(property)];
                for variant in property["oneOf"].as_array().into_iter().flatten() {
                    candidates.push(resolve(variant));
                }
                if let Some(items) = property.get("items") {
                    candidates.push(resolve(items));
                }
                for schema in candidates.iter().filter(|s| is_string(s)) {
                    let bounded = ["pattern", "enum", "maxLength"].iter().any(|k| schema.get(*k).is_some());
                    if !bounded {
                        loose.push(format!("{body}.{name}"));
                    }
                }
            }
        }
        assert!(loose.is_empty(), "strings the document leaves unbounded: {loose:?}");
    }
}
