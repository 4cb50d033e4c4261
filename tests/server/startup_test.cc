// What slimtrain_server checks before it serves (server/startup.h): the data
// directory's and tokens file's modes, TLS files. Its flags' spellings are
// base::FlagSet's (tests/base/flags_test.cc).
#include "server/startup.h"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"

namespace slimtrain::server {
namespace {

int Mode(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 0777) : -1;
}

TEST(StartupTest, DataDirIsCreatedOwnerOnlyAndRefusedWhenOthersCanWrite) {
  const std::string base = test_util::TempPath("startup-data");
  std::filesystem::remove_all(base);
  std::string note;
  ASSERT_TRUE(PrepareDataDir(base + "/a/b", &note).ok());
  EXPECT_EQ(Mode(base + "/a/b"), 0700);
  EXPECT_TRUE(note.empty());
  chmod((base + "/a/b").c_str(), 0757);
  absl::Status s = PrepareDataDir(base + "/a/b", &note);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(s.message(), base + "/a/b: others can write to it (mode 0757)")) << s;
  chmod((base + "/a/b").c_str(), 0750);
  ASSERT_TRUE(PrepareDataDir(base + "/a/b", &note).ok());
  EXPECT_EQ(Mode(base + "/a/b"), 0700);
  EXPECT_TRUE(absl::StrContains(note, "was 0750")) << note;
  std::ofstream(base + "/file") << "x";
  EXPECT_TRUE(absl::StrContains(PrepareDataDir(base + "/file", &note).message(), "not a directory"));
}

TEST(StartupTest, TokensFileOthersCanReadIsRefused) {
  const std::string path = test_util::TempPath("startup-tokens");
  std::ofstream(path) << "t alice user\n";
  chmod(path.c_str(), 0600);
  EXPECT_TRUE(CheckTokensFileMode(path).ok());
  for (int mode : {0640, 0604, 0620, 0666}) {
    chmod(path.c_str(), mode);
    const absl::Status s = CheckTokensFileMode(path);
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << std::oct << mode;
    EXPECT_TRUE(absl::StrContains(s.message(), "chmod 600")) << s;
  }
}

TEST(StartupTest, TlsFlagsAreAllOrNothingAndNameTheBadFile) {
  const std::string data = "tests/server/testdata/";
  const std::string garbage = test_util::TempPath("garbage.pem");
  std::ofstream(garbage) << "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n";
  EXPECT_TRUE(ServerCredentialsFromFlags("", "", "").ok());  // plaintext
  struct Case {
    std::string cert, key, ca, message;
  };
  const std::vector<Case> cases = {
      {"", data + "tls_a.key", "", "--tls-key needs --tls-cert"},
      {"", "", data + "tls_a.crt", "--tls-client-ca needs --tls-cert"},
      {data + "tls_a.crt", "", "", "--tls-cert needs --tls-key"},
      {garbage, data + "tls_a.key", "", "--tls-cert " + garbage + ": not a PEM file holding a certificate"},
      {data + "tls_a.crt", data + "tls_a.crt", "", "--tls-key " + data + "tls_a.crt: not a PEM file holding a private key"},
      {data + "tls_a.crt", "/nonexistent.key", "", "--tls-key /nonexistent.key: cannot read it"},
      {data + "tls_a.crt", data + "tls_b.key", "", "--tls-key " + data + "tls_b.key: TLS cannot be served with them"},
      {data + "tls_a.crt", data + "tls_a.key", garbage, "--tls-client-ca " + garbage + ": not a PEM file"},
  };
  for (const Case& c : cases) {
    const absl::Status s = ServerCredentialsFromFlags(c.cert, c.key, c.ca).status();
    EXPECT_FALSE(s.ok()) << c.message;
    EXPECT_TRUE(absl::StrContains(s.message(), c.message)) << s.message();
  }
  EXPECT_TRUE(ServerCredentialsFromFlags(data + "tls_a.crt", data + "tls_a.key", data + "tls_b.crt").ok());
}

}  // namespace
}  // namespace slimtrain::server
