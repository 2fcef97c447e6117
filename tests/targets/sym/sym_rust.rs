// SPDX-License-Identifier: MIT
// Symbolization target (Rust): module paths, a generic function and a trait impl, so that
// legacy-mangled names demangle to sym_rust::work::leaf and <impl ...> forms.
mod work {
    pub trait Shape {
        fn area(&self) -> u64;
    }
    pub struct Sq(pub u64);
    impl Shape for Sq {
        #[inline(never)]
        fn area(&self) -> u64 {
            std::hint::black_box(self.0 * self.0)
        }
    }
    #[inline(never)]
    pub fn sum<T: Shape>(v: &[T]) -> u64 {
        v.iter().map(|s| s.area()).sum()
    }
    #[inline(never)]
    pub fn leaf(n: u64) -> u64 {
        let v: Vec<Sq> = (0..n).map(Sq).collect();
        sum(&v)
    }
}

fn main() {
    let n = std::hint::black_box(std::env::args().count() as u64 + 10);
    let r = work::leaf(n);
    println!("ready {}", r & 1);
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
