#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| keel::fuzzing::holidays_csv(data));
