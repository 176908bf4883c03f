//! The streaming adapters (`esdk::io`): every test-vector through every adapter, truncation and
//! tampering at every offset, the release rules, property round trips, the examples.

#[path = "io/mock.rs"]
mod mock;

#[path = "io/drive.rs"]
mod drive;

#[path = "io/vectors.rs"]
mod vectors;

#[path = "io/release.rs"]
mod release;

#[path = "io/roundtrip.rs"]
mod roundtrip;

#[path = "io/props.rs"]
mod props;

#[path = "io/examples.rs"]
mod examples;
