// SPDX-License-Identifier: MIT
// Rust heap target (system allocator: Rust's alloc calls glibc's malloc/calloc). Prints
// "ready <pid>", waits until the file named by argv[1] exists (std has no signal handling), then
// keeps 4096 zeroed Vec<u8> of 4096 bytes (16 MiB) made in rust_leaker, prints "done", sleeps.
use std::io::Write;

#[inline(never)]
fn rust_leaker(keep: &mut Vec<Vec<u8>>) {
    for _ in 0..4096 {
        let mut v = vec![0u8; 4096];
        v[1] = 1;
        keep.push(v);
    }
}

fn main() {
    let trigger = std::env::args().nth(1).expect("usage: heap_rust TRIGGER_FILE");
    println!("ready {}", std::process::id());
    std::io::stdout().flush().unwrap();
    while !std::path::Path::new(&trigger).exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut keep = Vec::with_capacity(4096);
    rust_leaker(&mut keep);
    println!("done");
    std::io::stdout().flush().unwrap();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
        std::hint::black_box(&keep);
    }
}
