//! The view layer: the queries and models that the JSON API and the HTML pages both read, so the
//! two always agree. It imports neither `api` nor `page`; both import it.

pub mod ack;
pub mod drills;
pub mod fold;
pub mod model;
pub mod overview;
pub mod query;
pub mod target;
pub mod top;
