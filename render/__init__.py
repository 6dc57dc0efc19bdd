"""render stage: scenes, cameras, the display renderer (views, layouts, AR compositing) and the differentiable path.

Public interface (keep stable; see docs/render.md):

    from render.scene import Mesh, Scene, fit_map_colors, cylinder_mesh
        Mesh(name, vertices (N,3) f32 metres y-up facing +z, faces (F,3) int32, colors (N,3)|None, uvs (N,2)|None,
             texture HxWx3 uint8|None, overlay (N,3)|None, overlay_alpha=0.65, base_color, visible=True (False =
             depth-only occluder), shininess, double_sided=True (False: cull back faces of a closed CCW mesh, the
             body: ~30 % less CPU on llvmpipe))
        Scene(meshes, background=(r,g,b) 0..1 | None = transparent -> RGBA output)
    from render.cameras import CameraRig, Camera, PinholeCamera, cv_to_gl_points, VIEW_AZIMUTH_DEG
        CameraRig(center, height_m, fov_y_deg).camera(view, width) ; CameraRig.framing(lo, hi) ; .stereo(width, ipd_m)
        views: front, three_quarter, left, back, right, three_quarter_right
        PinholeCamera(fx, fy, cx, cy, width, height): pixels, continuous coordinates (pixel i covers [i, i+1));
             the AR world is the webcam's OpenGL camera frame; cv_to_gl_points converts OpenCV camera-space points;
             PinholeCamera.like(avatar.types.PinholeCamera) converts (same projection)
    from render.renderer import Renderer, RenderOutput
        r = Renderer()            # one per thread (a GL context is thread-bound); create it in the worker thread
        r.render_views(scene, views, layout="mosaic"|"tracks"|"stereo"|"mirror", view_size_px=384, labels=True,
                       rig=None, ipd_m=0.063) -> RenderOutput(image HxWx3 uint8 C-contiguous, layout, view_names,
                       views=[per-view images] for "tracks", render_ms)
        r.composite_ar(frame_rgb, scene, camera, person_mask=None, occluder_mask=None, feather_px=1) -> HxWx3 uint8
             (garments = visible meshes over the frame; the body visible=False writes depth only; see docs/render.md)
        r.triangle_ids(vertices, faces, camera: Camera) -> (H,W) int32, -1 = background
        (its parts: render.shaders GLSL sources, render.gpu_cache the GPU copies of meshes and the framebuffers,
         render.composite the AR blend over the frame in numpy)
    from render.diff import rasterize, interpolate, soft_silhouette, blur, render_colors, project, Fragments
        rasterize(vertices (N,3) torch, faces, camera: Camera, rasterizer=None, tri_id=None) -> Fragments
        interpolate(attr (N,C) | (F,3,C), frags, background=0) -> (H,W,C)
        soft_silhouette(vertices, faces, camera, sigma_px=0, rasterizer=None, frags=None) -> (H,W) in [0,1]
        (torch; gradients reach vertex positions and attributes, silhouette edges included)
    from render.backends import make_rasterizer, default_rasterizer   (settings.render_backend)
    Meshes in a Scene go inside-out: body first, outermost garment last.
"""
