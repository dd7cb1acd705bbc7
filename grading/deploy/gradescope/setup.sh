#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image;
# the autograder zip (made by make-autograder.sh) is unpacked in
# /autograder/source: the reference tree, with this script at its root.
set -euo pipefail

apt-get update
apt-get install -y --no-install-recommends curl ca-certificates build-essential
curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
  | sh -s -- -y --profile minimal --default-toolchain stable
# shellcheck source=/dev/null
source "$HOME/.cargo/env"

cd /autograder/source
cargo build --release -p grading
cargo fetch
# Compile the dependencies into the submissions' build directory once, here,
# rather than during the first student's grading: grade a copy of the
# reference tree on one test.
warm=$(mktemp -d)
tar --exclude='./target*' --exclude='./.git' -cf - . | tar -C "$warm" -xf -
./target/release/grade --submission "$warm" --parts 2A --test initial_election \
  --runs 1 > /dev/null
rm -rf "$warm"
