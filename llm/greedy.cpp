// Greedy-decodes N tokens of a fixed chat prompt with llama.cpp's default model loader (which
// memory-maps the GGUF file) and prints one line: the generated token ids, space separated.
// On stderr: the text, then `prompt: <ids>` (the templated prompt's tokens, so that another
// implementation can be given the same input) and `timing: load_ms=.. first_token_ms=..
// decode_tokens_per_s=..` (both times from the start of main). Exit code 1, with llama.cpp's
// message, when the model cannot be loaded (for example a read of the file fails with EIO).
//
//   llm-greedy MODEL.gguf [N_TOKENS] [PROMPT]
#include "llama.h"

#include <chrono>
#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

static void set_tokens(llama_batch_ext * batch, const llama_token * tokens, int32_t n, llama_pos pos0) {
    llama_batch_ext_clear(batch);
    for (int32_t i = 0; i < n; ++i) {
        const int32_t idx = llama_batch_ext_add_token(batch, 0, tokens[i]);
        const llama_pos pos = pos0 + i;
        llama_batch_ext_set_pos(batch, idx, &pos);
    }
    llama_batch_ext_set_output_logits(batch, n - 1, true);
}

static std::string piece(const llama_vocab * vocab, llama_token id) {
    char buf[256];
    const int n = llama_token_to_piece(vocab, id, buf, sizeof(buf), 0, true);
    return n < 0 ? std::string("?") : std::string(buf, n);
}

static double ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

int main(int argc, char ** argv) {
    const auto started = std::chrono::steady_clock::now();
    std::setlocale(LC_NUMERIC, "C");
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [N_TOKENS] [PROMPT]\n", argv[0]);
        return 2;
    }
    const std::string model_path = argv[1];
    const int n_predict = argc > 2 ? std::atoi(argv[2]) : 32;
    const std::string question = argc > 3 ? argv[3] : "Explain in three sentences why the sky is blue.";

    llama_backend_init();
    // Defaults on purpose: use_mmap (with MAP_POPULATE), as a user's llama.cpp loads a model.
    llama_model * model = llama_model_load_from_file(model_path.c_str(), llama_model_default_params());
    if (model == nullptr) {
        fprintf(stderr, "llm-greedy: unable to load model %s\n", model_path.c_str());
        return 1;
    }
    const double load_ms = ms_since(started);
    const llama_vocab * vocab = llama_model_get_vocab(model);

    // The model's own chat template around one user message.
    const char * tmpl = llama_model_chat_template(model, nullptr);
    llama_chat_message message = {"user", question.c_str()};
    std::vector<char> formatted(4 * question.size() + 1024);
    const int len = llama_chat_apply_template(tmpl, &message, 1, true, formatted.data(), formatted.size());
    if (len < 0 || len > (int) formatted.size()) {
        fprintf(stderr, "llm-greedy: cannot apply the chat template\n");
        return 1;
    }
    const std::string prompt(formatted.data(), len);

    const int n_prompt = -llama_tokenize(vocab, prompt.c_str(), prompt.size(), nullptr, 0, true, true);
    std::vector<llama_token> tokens(n_prompt);
    if (llama_tokenize(vocab, prompt.c_str(), prompt.size(), tokens.data(), tokens.size(), true, true) < 0) {
        fprintf(stderr, "llm-greedy: cannot tokenize the prompt\n");
        return 1;
    }

    llama_context_params ctx_params = llama_context_default_params();
    ctx_params.n_ctx = n_prompt + n_predict;
    ctx_params.n_batch = n_prompt;
    llama_context * ctx = llama_init_from_model(model, ctx_params);
    if (ctx == nullptr) {
        fprintf(stderr, "llm-greedy: cannot create a context\n");
        return 1;
    }
    llama_sampler * sampler = llama_sampler_chain_init(llama_sampler_chain_default_params());
    llama_sampler_chain_add(sampler, llama_sampler_init_greedy());

    llama_batch_ext * batch = llama_batch_ext_init(ctx);
    set_tokens(batch, tokens.data(), n_prompt, 0);
    int n_tokens = n_prompt;
    std::vector<llama_token> out;
    std::string text;
    double first_token_ms = 0, last_token_ms = 0;
    for (int n_pos = 0; (int) out.size() < n_predict;) {
        if (llama_process(ctx, LLAMA_PROCESS_TYPE_DECODE, batch)) {
            fprintf(stderr, "llm-greedy: decode failed\n");
            return 1;
        }
        n_pos += n_tokens;
        llama_token next = llama_sampler_sample(sampler, ctx, -1);
        if (llama_vocab_is_eog(vocab, next)) {
            break;
        }
        last_token_ms = ms_since(started);
        if (out.empty()) {
            first_token_ms = last_token_ms;
        }
        out.push_back(next);
        text += piece(vocab, next);
        set_tokens(batch, &next, 1, n_pos);
        n_tokens = 1;
    }
    for (size_t i = 0; i < out.size(); ++i) {
        printf(i ? " %d" : "%d", out[i]);
    }
    printf("\n");
    fprintf(stderr, "%s\n", text.c_str());
    fprintf(stderr, "prompt:");
    for (llama_token t : tokens) {
        fprintf(stderr, " %d", t);
    }
    const double decode_s = (last_token_ms - first_token_ms) / 1000.0;
    fprintf(stderr, "\ntiming: load_ms=%.1f first_token_ms=%.1f decode_tokens_per_s=%.2f\n", load_ms,
            first_token_ms, out.size() > 1 && decode_s > 0 ? (out.size() - 1) / decode_s : 0.0);

    llama_batch_ext_free(batch);
    llama_sampler_free(sampler);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
