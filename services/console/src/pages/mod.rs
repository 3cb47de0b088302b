//! The pages. Each handler takes the session, calls the services with the
//! officer's token (`backend::Calls`) and renders what they answer.

pub mod actions;
pub mod admin;
pub mod assets;
pub mod board;
pub mod case;
pub mod clue;
pub mod documents;
pub mod layout;
pub mod upload;
pub mod work;
