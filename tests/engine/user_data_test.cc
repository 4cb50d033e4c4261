// A user's dataset from spec to weights: files confined to a data root
// (symbolic links out of it refused, naming the file), the data metadata's
// round trip, training on an image folder with normalisation recorded in the
// checkpoint and the exported weights, a resumed run normalising with the
// checkpoint's statistics, and a regression on an .npz of float arrays.
#include <png.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "engine/checkpoint.h"
#include "engine/cpu/reference_backend.h"
#include "engine/data_files.h"
#include "engine/data_metadata.h"
#include "engine/dataset_spec.h"
#include "engine/safetensors.h"
#include "engine/trainer.h"
#include "gtest/gtest.h"
#include "tests/testing/data_files.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/test_models.h"

namespace slimtrain::engine {
namespace {

using test_util::TempPath;

std::string FreshDir(const std::string& name) {
  const std::string dir = TempPath(name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

TEST(DataFilesTest, ConfinedReadsRefuseEveryPathOutOfTheRoot) {
  const std::string root = FreshDir("confined_root"), outside = FreshDir("confined_outside");
  std::filesystem::create_directories(root + "/data/sub");
  std::ofstream(root + "/data/in.bin") << "inside";
  std::ofstream(outside + "/secret.bin") << "outside";
  std::filesystem::create_symlink(outside + "/secret.bin", root + "/data/link.bin");
  std::filesystem::create_symlink(root + "/data/in.bin", root + "/data/sub/ok.bin");  // a link inside: fine
  std::filesystem::create_directory_symlink(outside, root + "/data/dirlink");
  const DataFiles files = DataFiles::ConfinedTo(root);
  EXPECT_EQ(files.Read(root + "/data/in.bin").value(), "inside");
  EXPECT_EQ(files.Read(root + "/data/sub/ok.bin").value(), "inside");
  absl::StatusOr<std::string> link = files.Read(root + "/data/link.bin");
  EXPECT_EQ(link.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(link.status().message(), "data/link.bin: resolves outside the server's data root (a symbolic link?)");
  EXPECT_EQ(files.Read(root + "/data/../../confined_outside/secret.bin").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(files.List(root + "/data/dirlink", DataFiles::kFiles).status().message(),
            "data/dirlink: resolves outside the server's data root (a symbolic link?)");
  EXPECT_EQ(files.Read(root + "/data/none.bin").status().message(), "data/none.bin: no such file");
  EXPECT_EQ(files.Read(root + "/data/in.bin", 3).status().message(), "data/in.bin: 6 bytes, over the limit of 3 bytes");
  // Unconfined, the same link reads (slimtrain train on the user's own files).
  EXPECT_EQ(DataFiles().Read(root + "/data/link.bin").value(), "outside");
}

TEST(DataMetadataTest, RoundTripsThroughJsonAndRefusesMalformedEntries) {
  DataMetadata m;
  m.input_shape = {3, 32, 32};
  m.input_scale = "1/255";
  m.classes = {"cat", "dog \"spotted\"", "ñandú", "back\\slash"};
  m.mean = {0.1f, 0.123456789f, 1e-7f};
  m.std = {0.25f, 3.0f, 0.333333343f};
  const std::map<std::string, std::string> entries = MetadataEntries(m);
  EXPECT_EQ(entries.at("input_shape"), "[3, 32, 32]");
  EXPECT_EQ(entries.at("classes"), R"(["cat", "dog \"spotted\"", "ñandú", "back\\slash"])");
  absl::StatusOr<DataMetadata> back = ParseDataMetadata(entries, "w.safetensors");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->input_shape, m.input_shape);
  EXPECT_EQ(back->input_scale, m.input_scale);
  EXPECT_EQ(back->classes, m.classes);
  EXPECT_EQ(back->mean, m.mean);  // every float32 bit for bit
  EXPECT_EQ(back->std, m.std);
  EXPECT_FALSE(ParseDataMetadata({{"format", "pt"}}, "old.safetensors")->recorded());
  EXPECT_EQ(ParseDataMetadata({{"mean", "[0.5, oops]"}}, "w.safetensors").status().message(),
            "w.safetensors: metadata 'mean' is not a JSON list: '[0.5, oops]'");
  EXPECT_EQ(ParseDataMetadata({{"mean", "[0.5]"}, {"std", "[0]"}}, "w.safetensors").status().message(),
            "w.safetensors: metadata 'std' must list finite numbers (std: positive), got [0]");
  EXPECT_EQ(ParseDataMetadata({{"mean", "[0.5]"}}, "w.safetensors").status().message(),
            "w.safetensors: metadata 'mean' has 1 values and std has 0");
  EXPECT_EQ(ParseDataMetadata({{"classes", "[1, 2]"}}, "w.safetensors").status().message(),
            "w.safetensors: metadata 'classes' must list strings");
}

// 4 classes of 8 RGB 10x12 PNGs each (train), 2 each (test), for the tiny
// model made to take 3x8x8.
std::string MakeImageFolder(const std::string& root, const std::string& name) {
  const std::string dir = root + "/" + name;
  uint32_t state = 7;
  for (const char* split : {"train", "test"}) {
    for (int c = 0; c < 4; ++c) {
      const std::string cls = absl::StrCat(dir, "/", split, "/class", c);
      std::filesystem::create_directories(cls);
      for (int i = 0; i < (split[1] == 'r' ? 8 : 2); ++i) {
        std::vector<uint8_t> rgb(10 * 12 * 3);
        for (uint8_t& v : rgb) v = static_cast<uint8_t>(c * 50 + ((state = state * 1103515245u + 12345u) >> 27));
        EXPECT_TRUE(test_util::WritePng(absl::StrCat(cls, "/", i, ".png"), 12, 10, PNG_COLOR_TYPE_RGB, 8, rgb));
      }
    }
  }
  return dir;
}

v1::JobSpec ImageFolderJob(const std::string& path) {
  v1::JobSpec spec = test_util::TinySyntheticJob(4);
  v1::ModelSpec* model = spec.mutable_model()->mutable_spec();
  model->mutable_input()->clear_dims();
  for (int d : {3, 8, 8}) model->mutable_input()->add_dims(d);
  spec.mutable_dataset()->set_name("image-folder");
  spec.mutable_dataset()->set_path(path);
  spec.mutable_dataset()->set_normalize(true);
  return spec;
}

TEST(UserDataTrainingTest, ImageFolderRecordsItsNormalisationAndAResumeUsesTheStoredOne) {
  const std::string root = FreshDir("user_train");
  MakeImageFolder(root, "pets");
  const v1::JobSpec spec = ImageFolderJob("pets");
  ReferenceBackend backend(DType::kF32);
  TrainerOptions options;
  options.data_root = root;
  options.confine_to_data_root = true;
  options.checkpoint_path = root + "/checkpoint.safetensors";
  absl::StatusOr<std::unique_ptr<Trainer>> t = Trainer::Create(spec, &backend, options);
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_TRUE((*t)->RunSteps(2, {}).ok());
  ASSERT_TRUE((*t)->SaveCheckpoint().ok());

  // The metadata: the training split's statistics, classes, shape, scale.
  DatasetLoadOptions load;
  load.data_root = root;
  const Dataset train = LoadDatasetSpec(spec.dataset(), (*t)->graph(), Split::kTrain, load).value();
  const ChannelStats stats = ComputeChannelStats(train);
  const DataMetadata& m = (*t)->data_metadata();
  EXPECT_EQ(m.mean, stats.mean);
  EXPECT_EQ(m.std, stats.std);
  EXPECT_EQ(m.classes, (std::vector<std::string>{"class0", "class1", "class2", "class3"}));
  EXPECT_EQ(m.input_shape, (planner::Dims{3, 8, 8}));
  EXPECT_EQ(m.input_scale, "1/255");
  ASSERT_EQ(m.mean.size(), 3u);
  EXPECT_GT(m.std[0], 0.0f);

  // Exported weights carry it, as JSON strings in __metadata__.
  const std::string weights = root + "/w.safetensors";
  ASSERT_TRUE(WriteWeights(weights, (*t)->executor().params(), 2, MetadataEntries(m)).ok());
  SafetensorsFile file = DecodeSafetensors(base::ReadFile(weights).value(), weights).value();
  EXPECT_EQ(file.metadata.at("format"), "pt");
  EXPECT_EQ(file.metadata.at("classes"), R"(["class0", "class1", "class2", "class3"])");
  absl::StatusOr<DataMetadata> exported = ParseDataMetadata(file.metadata, weights);
  ASSERT_TRUE(exported.ok()) << exported.status();
  EXPECT_EQ(exported->mean, stats.mean);
  EXPECT_EQ(exported->std, stats.std);

  // So does the checkpoint; a resumed run normalises with what it holds,
  // not with statistics recomputed (here made different on purpose).
  SafetensorsFile checkpoint =
      DecodeSafetensors(base::ReadFile(options.checkpoint_path).value(), "checkpoint").value();
  EXPECT_EQ(checkpoint.metadata.at("mean"), file.metadata.at("mean"));
  checkpoint.metadata["mean"] = "[0.25, 0.5, 0.75]";
  ASSERT_TRUE(base::WriteFileAtomically(options.checkpoint_path, EncodeSafetensors(checkpoint)).ok());
  options.resume = true;
  absl::StatusOr<std::unique_ptr<Trainer>> resumed = Trainer::Create(spec, &backend, options);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ((*resumed)->step(), 2);
  EXPECT_EQ((*resumed)->data_metadata().mean, (std::vector<float>{0.25f, 0.5f, 0.75f}));
  EXPECT_EQ((*resumed)->data_metadata().std, stats.std);
}

TEST(UserDataTrainingTest, ConfinedTrainerRefusesAnImageLinkedFromOutsideTheRoot) {
  const std::string root = FreshDir("user_link"), outside = FreshDir("user_link_outside");
  const std::string dir = MakeImageFolder(root, "pets");
  std::filesystem::copy_file(dir + "/train/class0/0.png", outside + "/elsewhere.png");
  std::filesystem::create_symlink(outside + "/elsewhere.png", dir + "/train/class0/9.png");
  ReferenceBackend backend(DType::kF32);
  TrainerOptions options;
  options.data_root = root;
  options.confine_to_data_root = true;
  absl::StatusOr<std::unique_ptr<Trainer>> t = Trainer::Create(ImageFolderJob("pets"), &backend, options);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(),
            "pets/train/class0/9.png: resolves outside the server's data root (a symbolic link?)");
  options.confine_to_data_root = false;  // slimtrain train: the user's own files, links and all
  EXPECT_TRUE(Trainer::Create(ImageFolderJob("pets"), &backend, options).ok());
}

TEST(UserDataTrainingTest, NpzFloatArraysTrainARegression) {
  const std::string dir = FreshDir("user_npz");
  // y = x0 - x1 for 64 examples of 4 float32 values.
  std::vector<float> x(64 * 4), y(64);
  uint32_t state = 3;
  for (float& v : x) v = static_cast<float>((state = state * 1103515245u + 12345u) >> 16) / 65536.0f;
  for (int i = 0; i < 64; ++i) y[i] = x[i * 4] - x[i * 4 + 1];
  const std::string xb = test_util::NpyBytes("<f4", {64, 4}, test_util::RawBytes(x));
  const std::string yb = test_util::NpyBytes("<f4", {64}, test_util::RawBytes(y));
  for (const char* split : {"train", "test"}) {
    test_util::WriteBytes(absl::StrCat(dir, "/", split, ".npz"), test_util::ZipBytes({{"x.npy", xb}, {"y.npy", yb}},
                                                                                     true));
  }
  v1::JobSpec spec = test_util::TinySyntheticJob(30);
  v1::ModelSpec* model = spec.mutable_model()->mutable_spec();
  model->Clear();
  model->set_name("regress");
  model->mutable_input()->add_dims(4);
  model->set_num_classes(1);  // the output width mse_loss compares
  v1::Layer* fc = model->add_layers();
  fc->set_name("fc");
  fc->add_inputs("input");
  fc->mutable_linear()->set_out_features(1);
  v1::Layer* loss = model->add_layers();
  loss->set_name("loss");
  loss->add_inputs("fc");
  loss->mutable_mse_loss();
  spec.set_strategy("exact");
  spec.mutable_dataset()->set_name("npz");
  spec.mutable_dataset()->set_path(dir);
  spec.mutable_optimizer()->set_learning_rate(0.2);
  ReferenceBackend backend(DType::kF32);
  absl::StatusOr<std::unique_ptr<Trainer>> t = Trainer::Create(spec, &backend, {});
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ((*t)->data_metadata().input_scale, "1");
  EXPECT_TRUE((*t)->data_metadata().classes.empty());
  const double before = (*t)->Evaluate().value().loss;
  ASSERT_TRUE((*t)->RunSteps(30, {}).ok());
  const double after = (*t)->Evaluate().value().loss;
  EXPECT_LT(after, 0.5 * before) << "before " << before << ", after " << after;
}

}  // namespace
}  // namespace slimtrain::engine
