#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keel::fuzzing::markdown(data));
