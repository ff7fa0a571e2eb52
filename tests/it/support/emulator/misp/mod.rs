//! A MISP server emulator for tests and benchmarks, on 127.0.0.1 (see
//! docs/design.md#misp-rest-api and docs/design.md#misp-json for what it
//! imitates), able to cut responses off, drop connections, throttle and slow down.
//!
//! What it emulates: the API key check (403 with MISP's body), `Accept`
//! handling, `/servers/getVersion`, `/users/view/me`, `/events/restSearch`
//! and `/attributes/restSearch` with the filters misp-pull sends (published,
//! timestamp / publish_timestamp / attribute_timestamp, deleted, eventid,
//! uuid, tags, type, category, to_ids, org, metadata, order, limit and
//! 1-based page, includeEventTags, includeContext), `X-Result-Count` as MISP
//! sets it (a total for events, page rows + 1 when full for attributes), and
//! numbers as strings or as integers. Faults are queued per path: an HTTP
//! status (429 with `Retry-After` or `X-Rate-Limit-Reset`, 5xx), a response
//! cut off after N bytes (with or without a declared length), a dropped
//! connection, a delay before the answer. Events can be added, edited,
//! soft-deleted, unpublished and deleted between and during runs, directly
//! or through the control endpoint `/_control/…` (control.rs).
//!
//! Used by the tests as `support::emulator::misp` and by `examples/misp-emulator.rs`.

mod control;
mod emulator;
mod routes;
mod search;
mod store;

pub use emulator::{Emulator, Fault, TEST_KEY};
