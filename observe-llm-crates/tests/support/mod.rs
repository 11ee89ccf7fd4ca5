pub mod openai_fake;
