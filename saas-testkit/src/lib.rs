#![doc = include_str!("../README.md")]

mod db;

pub use db::{TestDb, server_url};
