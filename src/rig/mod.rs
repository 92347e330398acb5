//! The rig: what commwatch brings along to exercise itself on loopback — simulated endpoints
//! and receivers ([`sim`]), target inventories generated from the commune list
//! ([`inventory`]), and the scripted storm of `commwatch demo` ([`demo`]). Tests, the demo and
//! the benchmark harness use it; the core never imports it.

pub mod demo;
pub mod inventory;
pub mod sim;
