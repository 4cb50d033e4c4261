// The zoo's transformers: the Vision Transformer (ViT-Tiny) at ImageNet and
// CIFAR input, a GPT decoder (nanoGPT's character model) and a BERT-Base
// encoder.
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
namespace {

struct VitShape {
  int64_t channels, image, patch, width, depth, heads, mlp, classes;
};

v1::ModelSpec Vit(const VitShape& v, const std::string& name, const std::string& description) {
  constexpr double kEps = 1e-6;
  const int64_t side = v.image / v.patch, tokens = side * side;
  ModelBuilder b(name, description, {v.channels, v.image, v.image}, v.classes);
  std::string x = b.Conv("input", "patch_embed.proj", v.width, v.patch, v.patch, 0, true);  // (W,side,side)
  x = b.Reshape(x, "patch_embed.flatten", {v.width, tokens});                               // (W,L)
  x = b.Transpose(x, "patch_embed.transpose", {0, 2, 1});                                   // (L,W)
  x = b.ClassToken(x, "cls_token");                                                         // (L+1,W)
  x = b.PositionalEmbedding(x, "pos_embed");
  for (int64_t i = 0; i < v.depth; ++i) {
    const std::string p = absl::StrCat("blocks.", i, ".");
    const std::string h = b.LayerNorm(x, p + "norm1", kEps);
    const std::string q = b.Linear(h, p + "attn.q", v.width);
    const std::string k = b.Linear(h, p + "attn.k", v.width);
    const std::string val = b.Linear(h, p + "attn.v", v.width);
    std::string a = b.Attention(q, k, val, p + "attn.attention", v.heads, /*causal=*/false);
    a = b.Linear(a, p + "attn.proj", v.width);
    x = b.Add({x, a}, p + "add1");
    std::string m = b.LayerNorm(x, p + "norm2", kEps);
    m = b.Gelu(b.Linear(m, p + "mlp.fc1", v.mlp), p + "mlp.act");  // (L+1,mlp)
    m = b.Linear(m, p + "mlp.fc2", v.width);
    x = b.Add({x, m}, p + "add2");
  }
  x = b.Slice(x, "cls_row", 1, 0, 1);   // (1,W)
  x = b.LayerNorm(x, "norm", kEps);     // nn.LayerNorm on the class token
  x = b.Flatten(x, "flatten");          // (W)
  b.Loss(b.Linear(x, "head", v.classes));
  return std::move(b).Finish();
}

}  // namespace

v1::ModelSpec VitTiny(bool cifar, const std::string& name, const std::string& description) {
  return Vit(cifar ? VitShape{3, 32, 4, 192, 12, 3, 768, 10} : VitShape{3, 224, 16, 192, 12, 3, 768, 1000}, name,
             description);
}

// A small ViT for Fashion-MNIST in ViT-Tiny's design (pre-norm blocks, class
// token, learned positions, exact GELU): 1x28x28, patch 4 (49 tokens and the
// class token), width 96, depth 8, 3 heads, MLP 384, 10 classes.
v1::ModelSpec FmnistVit(const std::string& name, const std::string& description) {
  return Vit(VitShape{1, 28, 4, 96, 8, 3, 384, 10}, name, description);
}

// Radford et al. 2019's GPT-2 block in nanoGPT's shape for Shakespeare
// characters (Karpathy's nanoGPT, config/train_shakespeare_char.py: n_layer
// 6, n_head 6, n_embd 384, block_size 256, a 65-character vocabulary,
// bias=False), dropout 0 (nanoGPT's model default; that config trains with
// 0.2). Names follow nanoGPT's state_dict:
//   transformer.wte    embedding 65 -> 384, (256,384)
//   transformer.wpe    learned positions (256,384)
//   transformer.h.i    x + attn(ln_1(x)); then x + mlp(ln_2(x)); attn: q,
//                      k, v linear 384->384 each (nanoGPT's c_attn 384->1152:
//                      the same weights), causal attention over 6 heads,
//                      c_proj 384->384; mlp: c_fc 384->1536, GELU (erf),
//                      c_proj 1536->384; every linear and layer norm without
//                      a bias
//   transformer.ln_f   layer norm without bias
//   lm_head            linear 384->65 tied to wte (GPT-2's weight tying)
// and a next-character loss at every position, (256,65).
v1::ModelSpec NanoGpt(const std::string& name, const std::string& description) {
  constexpr int64_t kLayers = 6, kHeads = 6, kWidth = 384, kContext = 256, kVocab = 65;
  constexpr double kEps = 1e-5;
  ModelBuilder b(name, description, {kContext}, kVocab);
  std::string x = b.Embedding("input", "transformer.wte", kVocab, kWidth);  // (256,384)
  x = b.PositionalEmbedding(x, "transformer.wpe");
  for (int64_t i = 0; i < kLayers; ++i) {
    const std::string p = absl::StrCat("transformer.h.", i, ".");
    const std::string h = b.LayerNorm(x, p + "ln_1", kEps, /*bias=*/false);
    const std::string q = b.Linear(h, p + "attn.c_attn.q", kWidth, /*bias=*/false);
    const std::string k = b.Linear(h, p + "attn.c_attn.k", kWidth, /*bias=*/false);
    const std::string v = b.Linear(h, p + "attn.c_attn.v", kWidth, /*bias=*/false);
    std::string a = b.Attention(q, k, v, p + "attn.attention", kHeads, /*causal=*/true);
    a = b.Linear(a, p + "attn.c_proj", kWidth, /*bias=*/false);
    x = b.Add({x, a}, p + "add1");
    std::string m = b.LayerNorm(x, p + "ln_2", kEps, /*bias=*/false);
    m = b.Gelu(b.Linear(m, p + "mlp.c_fc", 4 * kWidth, /*bias=*/false), p + "mlp.gelu");  // (256,1536)
    m = b.Linear(m, p + "mlp.c_proj", kWidth, /*bias=*/false);
    x = b.Add({x, m}, p + "add2");
  }
  x = b.LayerNorm(x, "transformer.ln_f", kEps, /*bias=*/false);
  b.Loss(b.TiedLinear(x, "lm_head", "transformer.wte", kVocab));  // (256,65)
  return std::move(b).Finish();
}

// Devlin et al. 2019's BERT-Base (L=12, H=768, A=12) as Hugging Face's
// BertForSequenceClassification(bert-base-uncased, num_labels=2), for
// planning: 512 tokens of a 30,522-word vocabulary; embeddings word +
// learned position, LayerNorm (eps 1e-12), dropout 0.1; 12 post-norm
// blocks x = LN(x + dropout(attention)), x = LN(x + dropout(FFN)) with
// q, k, v, output 768->768, FFN 768->3072 GELU ->768, all with biases;
// the pooler (the first token, dense 768->768, tanh), dropout 0.1, and a
// classifier 768->2. Not modelled: token-type (segment) embeddings, since
// the model takes one input (Hugging Face's table is 2x768, 1,536 of its
// 109,483,778 parameters), and dropout on the attention probabilities
// (the fused attention keeps no probabilities to drop).
v1::ModelSpec BertBase(const std::string& name, const std::string& description) {
  constexpr int64_t kLayers = 12, kHeads = 12, kWidth = 768, kFfn = 3072, kLength = 512, kVocab = 30522;
  constexpr double kEps = 1e-12, kDropout = 0.1;
  ModelBuilder b(name, description, {kLength}, 2);
  std::string x = b.Embedding("input", "bert.embeddings.word_embeddings", kVocab, kWidth);
  x = b.PositionalEmbedding(x, "bert.embeddings.position_embeddings");
  x = b.LayerNorm(x, "bert.embeddings.LayerNorm", kEps);
  x = b.Dropout(x, "bert.embeddings.dropout", kDropout);
  for (int64_t i = 0; i < kLayers; ++i) {
    const std::string p = absl::StrCat("bert.encoder.layer.", i, ".");
    const std::string q = b.Linear(x, p + "attention.self.query", kWidth);
    const std::string k = b.Linear(x, p + "attention.self.key", kWidth);
    const std::string v = b.Linear(x, p + "attention.self.value", kWidth);
    std::string a = b.Attention(q, k, v, p + "attention.self.attention", kHeads, /*causal=*/false);
    a = b.Dropout(b.Linear(a, p + "attention.output.dense", kWidth), p + "attention.output.dropout", kDropout);
    x = b.LayerNorm(b.Add({x, a}, p + "attention.output.add"), p + "attention.output.LayerNorm", kEps);
    std::string m = b.Gelu(b.Linear(x, p + "intermediate.dense", kFfn), p + "intermediate.gelu");
    m = b.Dropout(b.Linear(m, p + "output.dense", kWidth), p + "output.dropout", kDropout);
    x = b.LayerNorm(b.Add({x, m}, p + "output.add"), p + "output.LayerNorm", kEps);
  }
  x = b.Flatten(b.Slice(x, "bert.pooler.first_token", 1, 0, 1), "bert.pooler.flatten");  // (768)
  x = b.Tanh(b.Linear(x, "bert.pooler.dense", kWidth), "bert.pooler.activation");
  x = b.Dropout(x, "dropout", kDropout);
  b.Loss(b.Linear(x, "classifier", 2));
  return std::move(b).Finish();
}

}  // namespace slimtrain::planner::zoo_internal
