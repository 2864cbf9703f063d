//! A real redis-server for the process tests: tus-redis's test server (feature
//! `test-server`, started by the project's scripts/redis.sh).

// Each test binary uses a different part.
#[allow(unused_imports)]
pub use tus_redis::test_server::{RedisServer, answers_ping as redis_answers, free_port};
