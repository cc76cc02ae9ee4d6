//! The only module of podrun with `unsafe` code and raw system calls.
