// Interoperability: our shards open in h5py, and a shard written by h5py (chunked, contiguous or
// compressed) opens in scorch. Skipped when SCORCH_PYTHON has no h5py.
#include <gtest/gtest.h>

#include "core/atomic_file.h"
#include "data/dataset.h"
#include "data_test_util.h"
#include "support/prerequisite.h"
#include "support/run.h"

namespace scorch::data {
namespace {

bool have_h5py() { return !test::python().empty() && test::run(test::python() + " -c 'import h5py, numpy'").code == 0; }

TEST(Interop, OurShardOpensInH5py) {
  SCORCH_REQUIRE_PREREQUISITE(have_h5py(), "no Python with h5py (SCORCH_PYTHON)");
  const auto dir = test::temp_dir("h5py_read");
  test_util::pack_random(dir, 12, 5, 4, 3, 0);
  Dataset ds(dir);
  std::vector<uint8_t> item(ds.item_bytes());
  ds.read(11, item.data());
  int64_t sum = 0;
  for (auto v : item) sum += v;
  const std::string script = dir + "/check.py";
  write_file_atomic(
      script, fmt::format("import h5py, numpy as np\n"
                          "f = h5py.File('{}/shard-00000.h5', 'r')\n"
                          "x = f['images']\n"
                          "assert x.dtype == np.uint8 and x.shape == (12, 5, 4, 3), (x.dtype, x.shape)\n"
                          "assert x.chunks is None, x.chunks\n"
                          "assert int(x[11].astype(np.int64).sum()) == {}\n"
                          "assert list(f['labels'][:3]) == [0, 1, 2]\n"
                          "assert x.attrs['format'] == b'scorch-dataset' or x.attrs['format'] == 'scorch-dataset'\n"
                          "assert list(x.attrs['shape']) == [5, 4, 3]\n"
                          "print('ok')\n",
                          dir, sum));
  const auto r = test::run(test::python() + " " + script);
  EXPECT_EQ(r.code, 0) << r.output;
}

TEST(Interop, H5pyShardOpensInScorch) {
  SCORCH_REQUIRE_PREREQUISITE(have_h5py(), "no Python with h5py (SCORCH_PYTHON)");
  const auto dir = test::temp_dir("h5py_write");
  // Three layouts: chunk per image, contiguous, gzip-compressed (the H5Dread fallback).
  const std::string script = dir + "/make.py";
  write_file_atomic(
      script,
      fmt::format(
          "import h5py, numpy as np, hashlib, json\n"
          "x = np.arange(10 * 6 * 6 * 3, dtype=np.int64).reshape(10, 6, 6, 3).astype(np.uint8)\n"
          "shards = []\n"
          "for i, kw in enumerate([dict(chunks=(1, 6, 6, 3)), dict(), dict(chunks=(2, 6, 6, 3), "
          "compression='gzip')]):\n"
          "    name = 'shard-%05d.h5' % i\n"
          "    with h5py.File('{0}/' + name, 'w') as f:\n"
          "        f.create_dataset('images', data=x, **kw)\n"
          "        f.create_dataset('labels', data=np.arange(10, dtype=np.int64))\n"
          "    shards.append(dict(file=name, count=10, sha256=hashlib.sha256(open('{0}/' + name, "
          "'rb').read()).hexdigest()))\n"
          "m = dict(format='scorch-dataset', version=1, kind='images', shape=[6, 6, 3], dtype='uint8', count=30,\n"
          "         labels=True, shards=shards, source={{}}, command='h5py')\n"
          "json.dump(m, open('{0}/manifest.json', 'w'))\n",
          dir));
  const auto r = test::run(test::python() + " " + script);
  ASSERT_EQ(r.code, 0) << r.output;
  Dataset ds(dir);
  std::vector<int64_t> idx{0, 9, 10, 19, 20, 29};
  const auto got = ds.read_items(idx);
  const auto x = torch::arange(10 * 6 * 6 * 3).reshape({10, 6, 6, 3}).remainder(256).to(torch::kUInt8);
  for (size_t k = 0; k < idx.size(); ++k) EXPECT_TRUE(torch::equal(got[k], x[idx[k] % 10])) << idx[k];
  EXPECT_FALSE(ds.shard(0).direct());  // chunked: through HDF5
  EXPECT_TRUE(ds.shard(1).direct());   // contiguous: pread
  EXPECT_FALSE(ds.shard(2).direct());
  EXPECT_EQ(ds.label(29), 9);
}

}  // namespace
}  // namespace scorch::data
