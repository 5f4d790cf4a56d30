//! The library half of the `tracedeck` command line: [`proxy`], the
//! recording and replaying HTTP proxy behind `tracedeck proxy`, so that
//! tests (and other programs) can run it in process.

pub mod proxy;
