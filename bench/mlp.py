# W1 in PyTorch: the same model, batch, optimizer and epoch as bench/mlp.lua.
# The images stay uint8 and each batch is converted as it is drawn, as
# torchvision's datasets do and as bench/mlp.lua does.
import gzip, os, struct, sys, time
import numpy as np
import torch

threads = int(os.environ.get("NNLUA_NUM_THREADS", "1"))
torch.set_num_threads(threads)
torch.manual_seed(0)
D = "/usr/share/datasets/fashion-mnist"

def idx(name):
    with gzip.open(os.path.join(D, name), "rb") as f:
        buf = f.read()
    ndim = buf[3]
    dims = struct.unpack(">" + "I" * ndim, buf[4:4 + 4 * ndim])
    return np.frombuffer(buf, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)

X = torch.from_numpy(idx("train-images-idx3-ubyte.gz").reshape(-1, 784).copy())
y = torch.from_numpy(idx("train-labels-idx1-ubyte.gz").astype(np.int64))
Xt = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz").reshape(-1, 784).copy())
yt = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz").astype(np.int64))
model = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256),
                            torch.nn.ReLU(), torch.nn.Linear(256, 10))
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
crit = torch.nn.CrossEntropyLoss()
perm = torch.randperm(X.shape[0])
t0, n = time.perf_counter(), 0
for b in range(X.shape[0] // 128):
    i = perm[b * 128:(b + 1) * 128]
    xb, yb = X[i].float().div_(255), y[i]
    loss = crit(model(xb), yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    n += xb.shape[0]
dt = time.perf_counter() - t0
with torch.no_grad():
    right = sum((model(Xt[b:b + 1000].float().div_(255)).argmax(1) == yt[b:b + 1000]).sum().item()
                for b in range(0, Xt.shape[0], 1000))
    acc = right / Xt.shape[0]
print("W1 mlp: %.0f samples/s, test accuracy %.4f, %d threads" % (n / dt, acc, threads))
