//! (being written)
/// The engine.
#[derive(Debug)]
pub struct Engine;
/// Engine configuration.
#[derive(Debug)]
pub struct EngineConfig;
