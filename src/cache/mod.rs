//! The writer side: the cache (metric → points), write strategies, rate limits, descriptor LRU, and the
//! durable-batch reports that let producers ack. Never touches: sockets, AMQP channels.

pub mod creators;
pub mod durable;
pub mod fdlimit;
pub mod query;
pub mod ratelimit;
pub mod rules;
pub mod store;
pub mod tickets;
pub mod writer;
