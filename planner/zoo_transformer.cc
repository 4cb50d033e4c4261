// The zoo's transformers: the Vision Transformer (ViT-Tiny) at ImageNet and
// CIFAR input.
//
// Shapes below are per example: (C,H,W) images, (L,D) token sequences.
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "planner/model_builder.h"
#include "planner/zoo_models.h"

namespace slimtrain::planner::zoo_internal {

// Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words", ViT-Tiny as
// timm's vit_tiny_patch16_224 (Touvron et al. 2021's DeiT-Ti shape): width
// 192, depth 12, 3 heads, MLP 768, pre-norm blocks, LayerNorm eps 1e-6, exact
// (erf) GELU, a class token and a learned position embedding, no dropout:
//   patch_embed.proj   conv p×p/p to 192: (192,H/p,W/p), then tokens
//                      (L,192), L = HW/p², as x.flatten(2).transpose(1, 2)
//   cls_token, pos_embed   (L+1,192)
//   blocks.i           x + attn(norm1(x)); then x + mlp(norm2(x)); attn:
//                      q, k, v linear 192→192 each (timm fuses them as one
//                      qkv 192→576: the same parameters), fused attention
//                      over 3 heads, proj 192→192; mlp: fc1 192→768, GELU,
//                      fc2 768→192
//   norm, head         the class token's row, LayerNorm, linear to classes.
// ImageNet: 3x224x224, p = 16, 197 tokens, 1000 classes. CIFAR: 3x32x32,
// p = 4, 65 tokens, 10 classes (the usual CIFAR patch size).
v1::ModelSpec VitTiny(bool cifar, const std::string& name, const std::string& description) {
  constexpr int64_t kWidth = 192, kDepth = 12, kHeads = 3, kMlp = 768;
  constexpr double kEps = 1e-6;
  const int64_t image = cifar ? 32 : 224, patch = cifar ? 4 : 16, classes = cifar ? 10 : 1000;
  const int64_t side = image / patch, tokens = side * side;
  ModelBuilder b(name, description, {3, image, image}, classes);
  std::string x = b.Conv("input", "patch_embed.proj", kWidth, patch, patch, 0, true);  // (192,side,side)
  x = b.Reshape(x, "patch_embed.flatten", {kWidth, tokens});                           // (192,L)
  x = b.Transpose(x, "patch_embed.transpose", {0, 2, 1});                              // (L,192)
  x = b.ClassToken(x, "cls_token");                                                    // (L+1,192)
  x = b.PositionalEmbedding(x, "pos_embed");
  for (int64_t i = 0; i < kDepth; ++i) {
    const std::string p = absl::StrCat("blocks.", i, ".");
    const std::string h = b.LayerNorm(x, p + "norm1", kEps);
    const std::string q = b.Linear(h, p + "attn.q", kWidth);
    const std::string k = b.Linear(h, p + "attn.k", kWidth);
    const std::string v = b.Linear(h, p + "attn.v", kWidth);
    std::string a = b.Attention(q, k, v, p + "attn.attention", kHeads, /*causal=*/false);
    a = b.Linear(a, p + "attn.proj", kWidth);
    x = b.Add({x, a}, p + "add1");
    std::string m = b.LayerNorm(x, p + "norm2", kEps);
    m = b.Gelu(b.Linear(m, p + "mlp.fc1", kMlp), p + "mlp.act");  // (L+1,768)
    m = b.Linear(m, p + "mlp.fc2", kWidth);
    x = b.Add({x, m}, p + "add2");
  }
  x = b.Slice(x, "cls_row", 1, 0, 1);   // (1,192)
  x = b.LayerNorm(x, "norm", kEps);     // nn.LayerNorm on the class token
  x = b.Flatten(x, "flatten");          // (192)
  b.Loss(b.Linear(x, "head", classes));
  return std::move(b).Finish();
}

}  // namespace slimtrain::planner::zoo_internal
