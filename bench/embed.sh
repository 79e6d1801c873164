#!/bin/sh
# Inference latency of the embedding host (examples/embed): one 784-feature
# sample through the Fashion-MNIST MLP (784-512-256-10) per frame, through
# nl_vm_call with a zero-copy host buffer, one thread. Prints the mean
# latency of 1000 frames.
cd "$(dirname "$0")/.." || exit 1
set -e
prefix=build/bench-prefix
ckpt=build/fashion_mnist_mlp.safetensors
[ -f "$ckpt" ] || bin/nnlua examples/fashion_mnist_mlp.lua 1 build >/dev/null
make -s install PREFIX="$PWD/$prefix" >/dev/null
PKG_CONFIG_PATH="$prefix/lib/pkgconfig" cc -O2 examples/embed/host.c -o build/embed_host \
  $(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs nnlua) -lpthread
build/embed_host examples/embed/classify.lua "$ckpt" 1000 1 | sed -n 's/^vm 1: .*mean latency \([0-9.]*\) us.*/embed latency: \1 us per sample (784-512-256-10 MLP, 1 thread)/p'
