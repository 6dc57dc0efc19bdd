"""The display renderer's GLSL 3.30 sources (`render.renderer.Renderer` compiles them): the studio lighting per
vertex (the default) or per pixel, the Lambert reference, the triangle-id pass and the depth-only occluder pass.
Plain strings, no GL: importing this module needs no context."""

from __future__ import annotations

__all__ = ["DEPTH_FS", "FS", "FS_LIT", "ID_FS", "ID_VS", "LAMBERT_FS", "STUDIO", "VS", "VS_LIT", "variant"]

# Per-pixel studio shading (`Renderer(shading="pixel")`, and the vertex stage of custom fragment shaders).
VS = """
#version 330
uniform mat4 mvp;
uniform mat4 view;
in vec3 in_pos;
in vec3 in_normal;
in vec3 in_color;
in vec2 in_uv;
in vec3 in_overlay;
out vec3 v_pos;
out vec3 v_normal;
out vec3 v_color;
out vec2 v_uv;
out vec3 v_overlay;
void main() {
    gl_Position = mvp * vec4(in_pos, 1.0);
    v_pos = (view * vec4(in_pos, 1.0)).xyz;
    v_normal = mat3(view) * in_normal;
    v_color = in_color;
    v_uv = in_uv;
    v_overlay = in_overlay;
}
"""

# Studio lighting in camera space, so every view reads the same way: a warm key from the upper left, a cool
# fill from the right, a rim term that separates the silhouette from the background, a little specular.
STUDIO = """
const vec3 KEY = vec3(-0.4694, 0.5737, 0.7302);   // normalize(-0.45, 0.55, 0.70)
const vec3 FILL = vec3(0.8062, 0.0537, 0.5912);   // normalize(0.75, 0.05, 0.55)
// (shaded colour) = mul * texture + add: mul carries the diffuse light (times the overlay's complement),
// add the rim, specular and fit-map overlay, which the texture does not tint
void studio(vec3 pos, vec3 normal, vec3 color, vec3 overlay, float overlay_alpha, float shininess,
            out vec3 mul, out vec3 add) {
    vec3 n = normalize(normal);
    vec3 v = normalize(-pos);
    float nv = dot(n, v);
    if (nv < 0.0) { n = -n; nv = -nv; }  // two-sided: cloth interiors
    float kd = max(dot(n, KEY), 0.0);
    float fd = max(dot(n, FILL), 0.0);
    vec3 light = vec3(0.30, 0.30, 0.33) + kd * vec3(0.72, 0.70, 0.66) + fd * vec3(0.255, 0.27, 0.30);
    float r = 1.0 - nv;
    float rim = 0.30 * r * r * r;
    float sh = max(dot(n, normalize(KEY + v)), 0.0);  // Blinn-Phong, exponent 24 by squaring
    float s2 = sh * sh; float s8 = s2 * s2; s8 *= s8;
    float spec = shininess * s8 * s8 * s8;
    float keep = 1.0 - overlay_alpha;
    mul = keep * color * light;
    add = keep * vec3(rim + spec) + overlay_alpha * (overlay * (0.45 + 0.55 * kd) + vec3(0.5 * rim));
}
"""

FS = (
    """
#version 330
uniform bool use_texture;
uniform sampler2D tex;
uniform float overlay_alpha;
uniform float shininess;
in vec3 v_pos;
in vec3 v_normal;
in vec3 v_color;
in vec2 v_uv;
in vec3 v_overlay;
out vec4 frag;
"""
    + STUDIO
    + """
void main() {
    vec3 mul, add;
    studio(v_pos, v_normal, v_color, v_overlay, overlay_alpha, shininess, mul, add);
    if (use_texture) mul *= texture(tex, v_uv).rgb;
    frag = vec4(clamp(mul + add, 0.0, 1.0), 1.0);
}
"""
)

# The default (`shading="vertex"`): the same studio lighting evaluated per vertex (Gouraud) and interpolated as one
# colour (untextured) or two plus the UVs (textured). On llvmpipe the per-triangle set-up and binning cost grows
# with the number of interpolated values (five vectors per pixel-shaded vertex, one here) and the fragment shader
# shrinks to a copy; the triangles are a few pixels wide at 512 px per view, so the picture is nearly the same
# (docs/render.md).
VS_LIT = (
    """
#version 330
uniform mat4 mvp;
uniform mat4 view;
uniform float overlay_alpha;
uniform float shininess;
in vec3 in_pos;
in vec3 in_normal;
in vec3 in_color;
in vec3 in_overlay;
#ifdef TEXTURED
in vec2 in_uv;
out vec4 v_mul_u;  // (mul, u) and (add, v): two interpolated vectors, not three
out vec4 v_add_v;
#else
out vec3 v_rgb;
#endif
"""
    + STUDIO
    + """
void main() {
    gl_Position = mvp * vec4(in_pos, 1.0);
    vec3 p = (view * vec4(in_pos, 1.0)).xyz;
    vec3 mul, add;
    studio(p, mat3(view) * in_normal, in_color, in_overlay, overlay_alpha, shininess, mul, add);
#ifdef TEXTURED
    v_mul_u = vec4(mul, in_uv.x);
    v_add_v = vec4(add, in_uv.y);
#else
    v_rgb = clamp(mul + add, 0.0, 1.0);  // one interpolated colour: the least set-up work per triangle
#endif
}
"""
)
FS_LIT = """
#version 330
#ifdef TEXTURED
uniform sampler2D tex;
in vec4 v_mul_u;
in vec4 v_add_v;
#else
in vec3 v_rgb;
#endif
out vec4 frag;
void main() {
#ifdef TEXTURED
    vec3 t = texture(tex, vec2(v_mul_u.w, v_add_v.w)).rgb;
    frag = vec4(clamp(v_mul_u.rgb * t + v_add_v.rgb, 0.0, 1.0), 1.0);
#else
    frag = vec4(v_rgb, 1.0);
#endif
}
"""


def variant(src: str, textured: bool) -> str:
    """Insert `#define TEXTURED` after the #version line."""
    if not textured:
        return src
    head, _, rest = src.strip().partition("\n")
    return f"{head}\n#define TEXTURED\n{rest}"


# The cheapest useful shading (one head-on light): the benchmark's reference for what the studio shading costs.
LAMBERT_FS = """
#version 330
in vec3 v_normal;
in vec3 v_color;
out vec4 frag;
void main() { frag = vec4(v_color * (0.3 + 0.7 * abs(normalize(v_normal).z)), 1.0); }
"""

ID_VS = """
#version 330
uniform mat4 mvp;
in vec3 in_pos;
void main() { gl_Position = mvp * vec4(in_pos, 1.0); }
"""
ID_FS = """
#version 330
out float tri_id;  // float32 holds ids exactly up to 2^24 triangles; float buffers clear portably
void main() { tri_id = float(gl_PrimitiveID + 1); }
"""
# depth-only occluders (the AR body): no lighting, no interpolated values
DEPTH_FS = """
#version 330
out vec4 frag;
void main() { frag = vec4(0.0); }
"""
