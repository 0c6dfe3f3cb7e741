//! One integration binary: real `mittaphap` processes and in-process nodes on
//! 127.0.0.1, on SQLite always and on PostgreSQL when it is reachable.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod helpers;

mod abuse;
mod access;
mod architecture;
mod assign;
mod cases;
mod cli;
mod content;
mod desk;
mod echo;
mod exchange;
mod faults;
mod federation_door;
mod forms;
mod fuzz;
mod handover;
mod healing;
mod init;
mod keys;
mod multiprocess;
mod notify;
mod oversight;
mod peers;
mod prosecution;
mod protocol_doc;
mod proxy;
mod serve;
mod tamper;
mod web;
