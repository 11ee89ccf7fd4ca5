pub mod openai_fake;
pub mod recorded;
