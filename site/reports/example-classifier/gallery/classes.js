reportgenClasses(["objects","people","textures"]);
